"""Readers: neo / NWB / BrainVision files and the real dataset layouts -> ``Recording``.

* :func:`read_recording` picks the reader from the file;
* :func:`read_neo` reads a neo ``Block`` or anything neo reads;
* :func:`read_nwb` reads NWB 2 files with pynwb (units, LFP, behaviour);
* :func:`read_bids_ieeg` reads BrainVision + iEEG-BIDS sidecars (names, types, MNI positions);
* :func:`load_indy`, :func:`load_flint`, :func:`load_brain_treebank` read the Makin/O'Doherty,
  Flint 2012 and Brain Treebank layouts;
* :func:`bin_spikes` counts spikes per bin with elephant.

Readers only read: they never write, and bad input raises ``ValueError`` (``FileNotFoundError``
for a missing path) before any Recording is built: a truncated or corrupt file names the file
and the problem, and a bin grid above :data:`MAX_BIN_BYTES` (4 GiB; assign
``skdistill.io.MAX_BIN_BYTES`` to change it) is refused. See ``docs/io.md``.
"""

from ._binning import bin_spikes
from ._braintreebank import BRAIN_TREEBANK_RATE, load_brain_treebank
from ._brainvision import read_bids_ieeg
from ._common import MAX_BIN_BYTES
from ._dispatch import SUPPORTED_LAYOUTS, read_recording
from ._flint import load_flint
from ._makin import load_indy
from ._neo import read_neo
from ._nwb import read_nwb

__all__ = [
    "read_recording",
    "read_neo",
    "read_nwb",
    "read_bids_ieeg",
    "load_indy",
    "load_flint",
    "load_brain_treebank",
    "bin_spikes",
    "BRAIN_TREEBANK_RATE",
    "MAX_BIN_BYTES",
    "SUPPORTED_LAYOUTS",
]
