"""sagewire's Chalice application: registers the blueprints (imported with the GC paused)."""

import gc

# `import app` creates some 80,000 objects that live as long as the function (botocore's, numpy's,
# the app's), and the cyclic collector would scan them again and again as they are created: 20 to
# 30 ms of a packaged cold start (bench coldstart_package). So the imports run with it paused, and
# what they made is frozen out of its generations before it resumes, even when an import fails.
gc.disable()
try:
    from chalice.app import Chalice

    from chalicelib.entrypoints.events import events
    from chalicelib.entrypoints.http import BINARY_TYPES, api

    # Chalice would give its app log, the `sagewire` logger, a plain-text handler of its own; the
    # app's log lines are Powertools' JSON (chalicelib/observability.py).
    app = Chalice(app_name="sagewire", configure_logs=False)
    app.api.binary_types.extend(BINARY_TYPES)
    app.register_blueprint(api)
    app.register_blueprint(events)
finally:
    gc.freeze()
    gc.enable()
