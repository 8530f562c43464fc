"""Program text that makes a Python child behave as on a machine without libpcap."""

# Put at the start of a `python -c` program: afterwards the library can neither be found
# nor loaded (ctypes.util.find_library answers None, ctypes.CDLL raises as for a missing
# file), so scapy and netinspect see what they would see without libpcap installed.
BLOCK_LIBPCAP = r"""
import ctypes, ctypes.util, sys
# A machine without libpcap: the library cannot be found or loaded.
_find = ctypes.util.find_library
ctypes.util.find_library = lambda name: None if "pcap" in name else _find(name)
_cdll = ctypes.CDLL.__init__
def refuse(self, name, *a, **k):
    if name and "pcap" in str(name):
        raise OSError(f"{name}: cannot open shared object file")
    return _cdll(self, name, *a, **k)
ctypes.CDLL.__init__ = refuse
"""
