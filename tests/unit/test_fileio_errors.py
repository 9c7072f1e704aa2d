"""Write errors are one clear InputError naming the path, and leave no temporary file; the
training folder takes one writer at a time; a resumed run says when its data changed."""

import errno
import os
import subprocess
import sys

import pytest
import torch

from polmlip.errors import InputError
from polmlip.fileio import atomic_save, atomic_write, check_output
from polmlip.train.run_folder import FolderLock, data_record, describe_change


def test_full_disk_is_one_clear_error_and_leaves_no_temporary_file(tmp_path):
    def full(_tmp):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(InputError, match=r"cannot write '.*model\.pt': No space left on device"):
        atomic_write(tmp_path / "model.pt", full)
    assert list(tmp_path.iterdir()) == []


def test_atomic_save_serialises_before_writing(tmp_path):
    atomic_save(tmp_path / "a.pt", lambda buffer: torch.save({"x": torch.ones(2)}, buffer))
    assert torch.load(tmp_path / "a.pt")["x"].sum() == 2
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]


def test_unwritable_output_is_found_before_the_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot write the output"):
        check_output(blocker / "out" / "model.pt", "model")
    with pytest.raises(InputError, match="cannot write the output"):
        check_output(blocker / "results", "results", folder=True)


def test_one_writer_per_training_folder(tmp_path):
    """Another process is refused while this one holds the folder; within this process the
    lock is shared (a resuming Trainer beside the first), and the last release frees it."""
    first = FolderLock(tmp_path)
    second = FolderLock(tmp_path)  # same process: shared
    code = f"from polmlip.train.run_folder import FolderLock; FolderLock({str(tmp_path)!r})"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert other.returncode != 0
    assert f"another polmlip train (pid {os.getpid()} on " in other.stderr
    first.release()
    assert (tmp_path / ".polmlip-train.lock").exists()  # still held by `second`
    second.release()
    assert list(tmp_path.iterdir()) == []
    FolderLock(tmp_path).release()  # free again


def test_changed_data_is_described(tmp_path):
    data = tmp_path / "train.xyz"
    data.write_text("frames\n")
    before = data_record([data], {"training": 6, "validation": 2})
    assert describe_change(before, data_record([data], {"training": 6, "validation": 2})) is None
    data.write_text("other frames\n")
    change = describe_change(before, data_record([data], {"training": 7, "validation": 2}))
    assert "trained on" in change and "training 6" in change and "training 7" in change
