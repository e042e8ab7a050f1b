"""`dais zoo clean` removes what `verify` lists as orphans."""

import pathlib
import shutil

from dais_keras import cli

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_zoo_clean_removes_orphans_and_leftovers(tmp_path, capsys):
    zoo_dir = tmp_path / "zoo"
    (zoo_dir / "weights").mkdir(parents=True)
    shutil.copy(REPO / "zoo" / "index.json", zoo_dir / "index.json")
    orphan = zoo_dir / "weights" / "m@1.keras"
    orphan.write_bytes(b"half a model")
    leftover = zoo_dir / ".index.json.abc.tmp"
    leftover.write_text("{")
    assert cli.main(["zoo", "clean", "--zoo-dir", str(zoo_dir), "--dry-run"]) == 0
    assert orphan.exists() and leftover.exists()
    assert "would remove" in capsys.readouterr().out
    assert cli.main(["zoo", "clean", "--zoo-dir", str(zoo_dir)]) == 0
    assert not orphan.exists() and not leftover.exists()
    assert (zoo_dir / "index.json").exists()
