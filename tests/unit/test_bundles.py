import io
import tarfile

import pytest

from playground.bundles import BundleError, bundle_id, pack_dir, unpack


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
