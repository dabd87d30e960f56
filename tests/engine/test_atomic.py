"""engine.atomic: the target is the old or the complete new content whatever step fails; data and rename are fsync'd."""
import os
import stat

import pytest

from engine.atomic import atomic_path, write_json


class Injected(Exception):
    pass


def _fsync_failing_on(kind: str):
    """An os.fsync that fails for a descriptor of ``kind`` ("file" or "dir") and syncs the others."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode) == (kind == "dir"):
            raise Injected(f"fsync of the {kind}")
        real(fd)
    return fsync


def _fail(*args, **kwargs):
    raise Injected("injected")


@pytest.mark.parametrize("step", ["write", "file fsync", "chmod", "rename", "dir fsync"])
def test_atomic_write_survives_an_exception_at_every_step(tmp_path, monkeypatch, step):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"old content")
    if step == "file fsync":
        monkeypatch.setattr(os, "fsync", _fsync_failing_on("file"))
    elif step == "dir fsync":
        monkeypatch.setattr(os, "fsync", _fsync_failing_on("dir"))
    elif step == "chmod":
        monkeypatch.setattr(os, "chmod", _fail)
    elif step == "rename":
        monkeypatch.setattr(os, "replace", _fail)
    with pytest.raises(Injected):
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            f.write(b"new")
            if step == "write":
                raise Injected("disk full")
            f.write(b" content, complete")
    expected = b"new content, complete" if step == "dir fsync" else b"old content"  # dir fsync: after the rename
    assert target.read_bytes() == expected
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary file left behind


def test_data_is_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        events.append(("fsync dir", st.st_ino) if stat.S_ISDIR(st.st_mode) else ("fsync file", st.st_ino, st.st_size))
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append(("rename",))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "manifest.json"
    write_json(target, {"entries": [1, 2, 3]})
    data = target.stat()
    assert events == [("fsync file", data.st_ino, data.st_size), ("rename",), ("fsync dir", tmp_path.stat().st_ino)]
    assert target.read_text() == '{"entries":[1,2,3]}'

