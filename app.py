"""sagewire's Chalice application: registers the blueprints, nothing else."""

from chalice.app import Chalice

from chalicelib.entrypoints.events import events
from chalicelib.entrypoints.http import BINARY_TYPES, api

app = Chalice(app_name="sagewire")
app.api.binary_types.extend(BINARY_TYPES)
app.register_blueprint(api)
app.register_blueprint(events)
