import io
import tarfile

import pytest

from playground.bundles import BundleError, bundle_id, check, pack_dir, unpack


def _tar(members: dict[str, bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return buf.getvalue()


def test_pack_is_stable_and_unpacks(tmp_path):
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "cog.yaml").write_text("predict: predict.py:Predictor\n")
    (src / "sub" / "w.txt").write_text("weights")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "x.pyc").write_bytes(b"junk")
    first, second = pack_dir(src), pack_dir(src)
    assert first == second and bundle_id(first) == bundle_id(second)
    unpack(first, tmp_path / "out")
    assert (tmp_path / "out" / "sub" / "w.txt").read_text() == "weights"
    assert not (tmp_path / "out" / "__pycache__").exists()


def test_single_top_folder_is_stripped(tmp_path):
    unpack(_tar({"model/cog.yaml": b"predict: p.py:P\n", "model/p.py": b""}), tmp_path / "out")
    assert (tmp_path / "out" / "cog.yaml").exists()


@pytest.mark.parametrize(
    "data, message",
    [
        (b"not a tarball", "not a tar archive"),
        (_tar({"predict.py": b""}), "cog.yaml not found"),
        (_tar({"cog.yaml": b"", "../evil": b""}), "unsafe path"),
        (_tar({"cog.yaml": b"", "/abs": b""}), "unsafe path"),
        (_tar({"cog.yaml": b""}, symlink="link"), "only files and folders"),
    ],
)
def test_bad_bundles_are_refused_with_a_reason(tmp_path, data, message):
    with pytest.raises(BundleError, match=message):
        unpack(data, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _bomb(size: int) -> bytes:
    """A bundle whose one file is `size` zero bytes: it gzips to almost nothing."""
    return _tar({"cog.yaml": b"predict: p.py:P\n", "weights.bin": b"\0" * size})


def test_a_gzip_bomb_is_refused_after_a_bounded_amount_of_work(tmp_path, settings):
    """The check stops decompressing at the cap (COGMILL_MAX_BUNDLE_RATIO times the bundle, or
    COGMILL_MAX_BUNDLE_EXPANDED_BYTES), whatever the bomb would expand to; nothing is written."""
    data = _bomb(64 * 2**20)
    assert len(data) < 200 * 2**10
    with pytest.raises(BundleError, match="bundle expands to more than"):
        check(data)
    with pytest.raises(BundleError, match="bundle expands to more than"):
        unpack(data, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    settings.COGMILL_MAX_BUNDLE_RATIO = 10_000
    settings.COGMILL_MAX_BUNDLE_EXPANDED_BYTES = 32 * 2**20
    with pytest.raises(BundleError, match=f"more than {32 * 2**20} bytes"):
        check(data)


def test_a_bundle_of_too_many_files_is_refused(settings):
    settings.COGMILL_MAX_BUNDLE_FILES = 50
    data = _tar({"cog.yaml": b"predict: p.py:P\n", **{f"f{i}.txt": b"" for i in range(60)}})
    with pytest.raises(BundleError, match="more than 50 files"):
        check(data)


def test_a_checked_bundle_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check(_tar({"cog.yaml": b"predict: p.py:P\n", "p.py": b"x"}))
    assert list(tmp_path.iterdir()) == []
