"""Run in a fresh interpreter: import ``covid_assets.code_location`` and print, as JSON, how long
the import took and every AWS call and network connection it attempted.

Network attempts are seen through Python's audit events (``socket.connect``,
``socket.getaddrinfo``), AWS calls through the botocore recorder; nothing is patched.
"""

import json
import sys
import time


def main() -> None:
    started = time.perf_counter()
    connections: list[str] = []

    def audit(event: str, arguments: tuple) -> None:
        if event in ("socket.connect", "socket.getaddrinfo"):
            connections.append(
                f"{event} {arguments[1:] if event == 'socket.connect' else arguments}"
            )

    sys.addaudithook(audit)
    # botocore would be imported by the definitions anyway; the recorder needs it first.
    from covid_assets_dev.aws_calls import recorded_calls

    with recorded_calls() as calls:
        import covid_assets.code_location  # noqa: F401

    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "aws_calls": [f"{call.service}:{call.operation}" for call in calls],
                "connections": connections,
            }
        )
    )


if __name__ == "__main__":
    main()
