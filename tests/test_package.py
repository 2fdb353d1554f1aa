import subprocess
import sys

import skdistill
from skdistill import estimators


def test_public_estimators_resolve_lazily():
    for name in skdistill._ESTIMATORS:
        assert getattr(skdistill, name) is getattr(estimators, name)
    assert set(skdistill._ESTIMATORS) <= set(dir(skdistill))


def test_data_layer_imports_without_torch():
    # The data layer (readers, simulators, splitters) must not pay for importing torch.
    code = ("import sys, skdistill.data, skdistill.io, skdistill.model_selection; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_help():
    out = subprocess.run([sys.executable, "-m", "skdistill.cli", "--help"], capture_output=True,
                         text=True, check=True)
    assert "demo" in out.stdout
    # a user's help: what the command does, not the module's docstring
    assert "cross-modal distillation" in out.stdout and "Thin;" not in out.stdout
    out = subprocess.run([sys.executable, "-m", "skdistill.cli", "demo", "--help"],
                         capture_output=True, text=True, check=True)
    for option in ("--output-dir", "--seed", "--seeds", "--quick", "--lfp-model"):
        assert option in out.stdout, option
    # it says what it prints, and that the numbers come from the simulator
    assert "lagged LFP" in out.stdout and "null" in out.stdout.lower()
    assert "simulator" in out.stdout
