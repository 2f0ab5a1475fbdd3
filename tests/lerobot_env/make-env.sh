#!/usr/bin/env bash
# Creates the LeRobot consumer environment, .venv-lerobot at the repository root: lerobot 0.4.4's
# dataset loader (LeRobotDataset, torchcodec decoding) next to this project's CPU torch 2.13.0.
# The tests of pipeline/publish/lerobot.py load exports with it (pytest -m lerobot).
#
#   tests/lerobot_env/make-env.sh            create or complete the env; a no-op when it is up to date
#   LEROBOT_VENV=DIR PYTHON=python3.11 tests/lerobot_env/make-env.sh
#
# Steps (each printed): venv -> torch==2.13.0 -> lerobot==0.4.4 --no-deps -> the pins of
# tests/lerobot_env/requirements.txt (constrained by constraints.txt) -> Debian's FFmpeg 5.1
# libraries for torchcodec (only as root with apt-get; otherwise a note) -> the torchvision
# stand-in (tests/lerobot_env/shim) on the env's path through a .pth file, only if a real
# `import torchvision` fails -> an import check -> the marker .venv-lerobot/.complete, which
# holds a hash of the inputs: editing this script, the pins or the shim rebuilds on the next run.
# Exits non-zero on any failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${LEROBOT_VENV:-$ROOT/.venv-lerobot}
PYTHON=${PYTHON:-python3.11}
ENV_DIR=$ROOT/tests/lerobot_env
REQ=$ENV_DIR/requirements.txt
CONSTRAINTS=$ENV_DIR/constraints.txt
SHIM=$ENV_DIR/shim
MARKER=$VENV/.complete
TORCH_PIN=torch==2.13.0
LEROBOT_PIN=lerobot==0.4.4
FFMPEG_DEBS=(libavcodec59 libavformat59 libavutil57 libavdevice59 libavfilter8 libswscale6 libswresample4)
FFMPEG_SONAMES=(libavcodec.so.59 libavformat.so.59 libavutil.so.57 libavdevice.so.59 libavfilter.so.8 libswscale.so.6 libswresample.so.4)

say() { echo "lerobot-env: $*"; }
die() { echo "lerobot-env: error: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=...)"
stamp=$({ cat "${BASH_SOURCE[0]}" "$REQ" "$CONSTRAINTS"
  find "$SHIM" -name '*.py' -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -c1-16)
if [[ -f $MARKER && $(cat "$MARKER") == "$stamp" ]]; then
  say "$VENV is complete and up to date ($stamp); nothing to do"
  exit 0
fi
start=$(date +%s)

PY=$VENV/bin/python
PIP=("$PY" -m pip --disable-pip-version-check -q)
if [[ ! -x $PY ]]; then
  say "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
else
  say "reusing $VENV (incomplete or built from other inputs)"
fi
rm -f "$MARKER"

pip_install() {  # pip_install ARGS... ; on failure, show what the registry offers for each pin
  # pip prints one warning per missing local index folder (noise); pipefail keeps pip's status
  if ! "${PIP[@]}" install "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }; then
    for arg in "$@"; do
      if [[ $arg == *==* && $arg != -* ]]; then
        say "pip index versions ${arg%%==*}:"
        "$PY" -m pip index versions "${arg%%==*}" 2>&1 | { grep -v '^WARNING' || true; } | head -3
      fi
    done
    die "pip install $* failed"
  fi
}

say "installing $TORCH_PIN (the project's pin)"
pip_install -c "$CONSTRAINTS" "$TORCH_PIN"
say "installing $LEROBOT_PIN without its dependencies (its torch<2.11 pin is ignored on purpose)"
pip_install --no-deps "$LEROBOT_PIN"
say "installing $(grep -v '^#' "$REQ" | tr '\n' ' ')"
say "(pip's resolver may list lerobot's own pins as unmet or conflicting: expected, --no-deps)"
pip_install -c "$CONSTRAINTS" -r "$REQ" "$TORCH_PIN"
"$PY" -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') else f'torch {v} was installed instead of 2.13.0')"

missing=()
for so in "${FFMPEG_SONAMES[@]}"; do
  ldconfig -p 2>/dev/null | grep -q "$so" || missing+=("$so")
done
if (( ${#missing[@]} == 0 )); then
  say "FFmpeg 5.1 libraries for torchcodec already present"
elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  say "installing Debian FFmpeg libraries for torchcodec: ${FFMPEG_DEBS[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${FFMPEG_DEBS[@]}" >/dev/null
else
  say "note: missing ${missing[*]} and not root with apt-get: install ${FFMPEG_DEBS[*]} yourself," \
      "or torchcodec cannot decode (the import check below will fail)"
fi

PTH=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/laps_torchvision_shim.pth
rm -f "$PTH"
if "$PY" -c "import torchvision" 2>/dev/null; then
  say "a real torchvision imports: the stand-in is not used"
else
  if "${PIP[@]}" show torchvision >/dev/null 2>&1; then
    say "an installed torchvision fails to import next to CPU torch: uninstalling it"
    "${PIP[@]}" uninstall -y torchvision
  fi
  say "torchvision is not importable: adding the stand-in $SHIM via $PTH"
  echo "$SHIM" >"$PTH"
fi

say "checking the imports"
HF_HUB_OFFLINE=1 "$PY" - <<'EOF' || die "import check failed"
import torch, torchvision, torchcodec
from torchcodec.decoders import VideoDecoder  # loads libtorchcodec against the FFmpeg libs
from lerobot.datasets.lerobot_dataset import LeRobotDataset
import lerobot
print(f"lerobot-env: torch {torch.__version__}, lerobot {lerobot.__version__}, "
      f"torchcodec {torchcodec.__version__}, torchvision {torchvision.__version__}")
EOF
echo "$stamp" >"$MARKER"
say "done in $(( $(date +%s) - start )) s: $VENV (marker $MARKER)"
