"""Error codes the reference executor sends in ``ReportFinish.errorCode`` and the exit-code mapping.

The node's own codes are 10000-19999 (protocol.md §5); the executor's live in 20000-20999 so the two
never collide. executor/README.md documents them for operators.
"""

from __future__ import annotations

from dataclasses import dataclass

from executor.sdk.messages import STATUS_CANCELLED, STATUS_FAILED, STATUS_SUCCESS

TASKS_FAILED = 20001  # Robot Framework exit 1-250: that many tasks failed (the count is in the run's logs)
INVALID_DATA = 20252  # Robot Framework exit 252: invalid test data or command line options
TERMINATED = 20253  # exit 253 or killed by a signal that the executor did not send for a Stop
INTERNAL_ERROR = 20255  # exit 255 (Robot Framework internal error) or an executor bug
PACKAGE_DOWNLOAD_FAILED = 20010  # the package could not be downloaded
PACKAGE_HASH_MISMATCH = 20011  # the package does not match packageSha256
PACKAGE_INVALID = 20012  # not a zip, no/bad manifest.json, entry missing, or an engine we do not run
DEPENDENCIES_FAILED = 20013  # the package's Python dependencies could not be installed
ARGUMENTS_INVALID = 20014  # a required argument is missing or an argument cannot be passed
CHECKPOINT_FAILED = 20015  # checkpointUri given but the checkpoint could not be restored
TIMEOUT = 20020  # timeoutSeconds elapsed; the executor stopped the run
EXECUTOR_BUSY = 20030  # Execute for another run arrived while one was executing
START_FAILED = 20040  # the robot process could not be started

#: Words for each code, used in the run's logs.
DESCRIPTIONS = {
    TASKS_FAILED: "tasks failed",
    INVALID_DATA: "invalid robot data or options",
    TERMINATED: "terminated",
    INTERNAL_ERROR: "internal error",
    PACKAGE_DOWNLOAD_FAILED: "package download failed",
    PACKAGE_HASH_MISMATCH: "package SHA-256 mismatch",
    PACKAGE_INVALID: "invalid package",
    DEPENDENCIES_FAILED: "package dependencies could not be installed",
    ARGUMENTS_INVALID: "invalid arguments",
    CHECKPOINT_FAILED: "checkpoint could not be restored",
    TIMEOUT: "timed out",
    EXECUTOR_BUSY: "executor busy with another run",
    START_FAILED: "robot process could not be started",
}


class RunError(Exception):
    """A run failed before or around the robot process; ``code`` goes into ReportFinish."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ReportFinish ``status`` and ``error_code``, and a line for the run's logs."""

    status: int
    error_code: int | None
    message: str

    @property
    def failed(self) -> bool:
        return self.status == STATUS_FAILED


def map_exit(
    returncode: int | None, *, cancelled: bool, killed: bool = False, timed_out: bool = False
) -> Outcome:
    """Map the robot process's exit to an outcome.

    ``cancelled`` is the executor's own Stop flag and wins over any exit code: a Stop is ``cancelled``
    even when the robot exits 0 or had to be killed. ``killed`` means the process died of a signal
    (negative return code on POSIX) or the executor had to kill it.
    """
    if cancelled:
        return Outcome(STATUS_CANCELLED, None, "Run cancelled by a Stop request")
    if timed_out:
        return Outcome(STATUS_FAILED, TIMEOUT, "Run stopped: timeoutSeconds elapsed")
    if returncode == 0 and not killed:
        return Outcome(STATUS_SUCCESS, None, "All tasks passed")
    if killed or returncode is None or returncode < 0 or returncode == 253:
        return Outcome(STATUS_FAILED, TERMINATED, f"Robot process terminated (exit {returncode})")
    if returncode == 252:
        return Outcome(STATUS_FAILED, INVALID_DATA, "Invalid robot data or command line options (exit 252)")
    if returncode == 255:
        return Outcome(STATUS_FAILED, INTERNAL_ERROR, "Robot Framework internal error (exit 255)")
    if 1 <= returncode <= 250:
        more = " or more" if returncode == 250 else ""
        noun = "task" if returncode == 1 else "tasks"
        return Outcome(STATUS_FAILED, TASKS_FAILED, f"{returncode}{more} {noun} failed")
    return Outcome(
        STATUS_FAILED, INTERNAL_ERROR, f"Robot process ended with unexpected exit code {returncode}"
    )
