"""Developer tooling, not shipped with the package: the local AWS emulator and the stack, and
what the tests and the benchmark share (recording AWS calls, serving source files over HTTP, the
real files read independently of the pipeline, a tick's evaluation, a run in a process of its
own, and what a run cost). The tests and the benchmark import it; it imports neither."""
