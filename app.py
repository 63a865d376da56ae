"""sagewire's Chalice application: registers the blueprints, nothing else."""

from chalice.app import Chalice

from chalicelib.entrypoints.events import events
from chalicelib.entrypoints.http import BINARY_TYPES, api

# Chalice would give its app log, the `sagewire` logger, a plain-text handler of its own; the app's
# log lines are Powertools' JSON (chalicelib/observability.py).
app = Chalice(app_name="sagewire", configure_logs=False)
app.api.binary_types.extend(BINARY_TYPES)
app.register_blueprint(api)
app.register_blueprint(events)
