"""`make demo` with an S3 store that cannot be reached: one line naming the variable and the
endpoint, exit code 2, before any work (no sample rendered, no run), no credential printed."""

import secrets
import shutil
from pathlib import Path

from s3server import free_ports

from assets import demo

REPO = Path(__file__).resolve().parents[2]


def test_demo_with_an_unreachable_store_fails_in_one_line(tmp_path, monkeypatch, capsys):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    endpoint = f"http://127.0.0.1:{free_ports(1)[0]}"
    secret = "planted-" + secrets.token_hex(16)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "LAPS_LANDING_URI", "LAPS_CATALOG"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "DAGSTER_HOME": str(home), "LAPS_DATA_ROOT": str(tmp_path / "data"),
        "LAPS_STORE_URI": "s3://laps-demo/store", "LAPS_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "AKIDPLANTED", "AWS_SECRET_ACCESS_KEY": secret,
    }  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert demo.main(["--videos", "1", "--seconds", "6"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"error: LAPS_STORE_URI s3://laps-demo/store: S3 endpoint {endpoint} ")
    assert err.count("\n") == 1 and "is unreachable" in err
    assert secret not in out + err
    assert not list(tmp_path.rglob("*.mp4")), "nothing rendered before the check"
    assert list(home.iterdir()) == [home / "dagster.yaml"], "no run was started"
