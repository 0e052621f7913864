"""``rpa executor``: attach the reference executor to a node."""

from __future__ import annotations

import logging
import signal
import sys
import threading

import click

from executor.settings import ExecutorSettings


@click.command("executor")
@click.option("--node", help="Node URL, e.g. http://node:8000")
@click.option("--id", "robot_id", help="Robot id of this executor")
@click.option("--supplier", help="Supplier code")
@click.option("--secret", help="Supplier secret (better: RPA_EXECUTOR_SECRET in the environment)")
@click.option("--protocol", type=click.Choice(["ws", "http"]), help="Transport (default ws)")
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="TOML settings file"
)
@click.option(
    "--work-dir", type=click.Path(file_okay=False), help="Folder for packages, envs, spool and runs"
)
@click.option(
    "--wheelhouse", type=click.Path(exists=True, file_okay=False), help="Install package deps from here"
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging")
def executor_command(
    node, robot_id, supplier, secret, protocol, config_file, work_dir, wheelhouse, verbose
) -> None:
    """Attach a robot to a province node and run the process packages it is sent."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = ExecutorSettings.load(
            config_file,
            node=node,
            robot_id=robot_id,
            supplier=supplier,
            secret=secret,
            protocol=protocol,
            work_dir=work_dir,
            wheelhouse=wheelhouse,
        )
        settings.validate()
    except (ValueError, OSError) as exc:
        raise click.UsageError(str(exc)) from exc

    from executor.agent import Executor  # heavy imports only once the options are good

    agent = Executor(settings)

    def _terminate(signum, frame):
        logging.getLogger(__name__).info("Signal %s: shutting down", signum)
        agent.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGINT, _terminate)
    agent.run_forever()


def main() -> None:  # pragma: no cover - ``python -m executor.cli``
    executor_command()


if __name__ == "__main__":  # pragma: no cover
    main()
