"""Built-in simulator of the Clari Export API v4 (demo mode and tests).

`SyntheticOrg` makes the data; `SimulatorServer` serves it over HTTP the way the real service
does, with job lifecycle, limits, errors and injectable faults (`FaultPlan`).
"""

from .org import SyntheticOrg
from .server import DEMO_API_KEY, FaultPlan, SimulatorServer, serve

__all__ = ["SyntheticOrg", "SimulatorServer", "FaultPlan", "DEMO_API_KEY", "serve"]
