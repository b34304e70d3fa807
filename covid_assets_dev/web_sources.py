"""Source files served over HTTP on 127.0.0.1 the way upstream serves them: with Last-Modified,
and 304 Not Modified for a conditional request when nothing newer was published."""

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class AnsweringHandler(SimpleHTTPRequestHandler):
    """A static file server (it honours If-Modified-Since) that notes each answer: the path
    asked for and the status."""

    answers: list[tuple[str, int]]

    def send_response(self, code: int, message: str | None = None) -> None:
        self.answers.append((self.path, code))
        super().send_response(code, message)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class ServedFolder:
    url: str
    folder: Path
    answers: list[tuple[str, int]] = field(default_factory=list)

    def write(self, name: str, content: str | bytes, published: float) -> str:
        """Serve ``content`` as ``name``, last modified at ``published`` (epoch seconds);
        returns its URL."""
        target = self.folder / name
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
        os.utime(target, (published, published))
        return f"{self.url}/{name}"

    def publish(self, name: str, source: Path, published: float) -> str:
        """Serve a copy of the file ``source`` as ``name``; see ``write``."""
        return self.write(name, source.read_bytes(), published)

    @property
    def statuses(self) -> list[int]:
        return [status for _, status in self.answers]


@contextmanager
def served_folder(folder: Path) -> Iterator[ServedFolder]:
    folder.mkdir(parents=True, exist_ok=True)
    served = ServedFolder("", folder)
    handler = type("Handler", (AnsweringHandler,), {"answers": served.answers})
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
    )
    # Polled often, so that shutting it down takes no time (the default waits up to 0.5 s).
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    served.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
