"""Developer tooling, not shipped with the package: the local AWS emulator and the stack."""
