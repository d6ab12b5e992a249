"""pltanomaly: find anomalies in CMS PLT luminosity data, fill by fill."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pltanomaly")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
