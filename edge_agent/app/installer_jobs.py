"""The installer's jobs at the cabinet (flows/installer.py): self-tests of doors and lanes, tare and
calibration of weigh bins, the layout and the firmware's STATUS. A part of `Agent` (app/agent.py), kept apart
so that each module stays small: the jobs use the agent's ledger, cabinet, bins and HELLO answer."""
from edge_agent.app.jobs import job
from edge_agent.flows import installer
from edge_agent.flows.vending import jammed
from edge_agent.ledger.locations import units


class InstallerJobs:
    @job("install")
    def health(self, person):
        return installer.health(self.ledger, self.cabinet, self.hello)

    @job("install", moves=True)
    def test_door(self, person, location):
        return installer.test_door(self.ledger, self.cabinet, person, location)

    @job("install", moves=True)
    def test_lane(self, person, location):
        return installer.test_lane(self.ledger, self.cabinet, person, location)

    @job("install", moves=True)
    def reenable_lane(self, person, location):
        return installer.reenable_lane(self.ledger, self.cabinet, person, location)

    @job("install")
    def lane_jammed(self, person, location):
        """Whether the ledger holds an open jam alert for the lane (vending.jammed)."""
        return jammed(self.ledger, location)

    @job("install")
    def layout(self, person):
        """{(kind, unit): location id} for the cabinet's doors, lanes and weigh bins."""
        return units(self.ledger)

    @job("install")
    def cabinet_status(self, person):
        """The firmware's STATUS: each door's, lane's and bin's state now (link.codes names them)."""
        return self.cabinet.status()

    @job("install", moves=True)
    def tare_bin(self, person, location):
        return installer.tare(self.ledger, self.cabinet, person, location)

    @job("install", moves=True)
    def calibrate_bin(self, person, location, known_mg):
        return installer.calibrate(self.ledger, self.cabinet, person, location, known_mg)

    @job("install")
    def read_bin(self, person, location):
        return installer.read_bin(self.ledger, self.bins, location)
