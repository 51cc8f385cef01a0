"""``irdrive incident comms INC``: render one of the playbook's three communication templates
from the record and, with ``--send``, deliver it through apprise to the channels configured for
the incident's severity (``irdrive.incidents.comms``)."""

from __future__ import annotations

import json

import click

from irdrive.errors import EXIT_FAILED, UsageError, handle_errors

TEMPLATE_CHOICES = ("internal", "user", "stakeholder")  # irdrive.incidents.comms.TEMPLATES


@click.command()
@click.argument("incident_id", metavar="INC-ID")
@click.option(
    "--template",
    "-t",
    type=click.Choice(TEMPLATE_CHOICES),
    default="internal",
    show_default=True,
    help="internal: the team's alert; user: customer-facing text only; stakeholder: business.",
)
@click.option(
    "--send",
    is_flag=True,
    help="Deliver it to the channels configured for the incident's severity, and record each "
    "delivery in the timeline.",
)
@click.option(
    "--comms-config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="IRDRIVE_COMMS_CONFIG",
    help="The channels file (default: comms.yml beside the config file).",
)
@click.option("--tz", "tz_name", help="Show times in this zone too (default $IRDRIVE_TZ, $TZ).")
@click.option("--json", "as_json", is_flag=True, help="Print the text and deliveries as JSON.")
@handle_errors
def comms(
    incident_id: str,
    template: str,
    send: bool,
    config_file: str | None,
    tz_name: str | None,
    as_json: bool,
) -> None:
    """Render an incident communication, and with --send deliver it.

    The text goes to stdout. With --send each configured channel gets it (apprise: Slack,
    Teams, email, PagerDuty, JSON webhooks...); every delivery, sent or failed, is recorded in
    the timeline, and a sent one resets the incident's next-update clock.

    Exit 0 when the text was rendered and, with --send, at least one channel got it (a channel
    that failed is named on stderr and recorded); 1 when every channel failed; 2 for bad input
    or a bad channels file, with nothing sent and nothing recorded.

    \b
    Examples:
      irdrive incident comms INC-20261202-031500
      irdrive incident comms INC-20261202-031500 --template user
      irdrive incident comms INC-20261202-031500 --template stakeholder --send
    """
    from datetime import UTC, datetime

    from irdrive.incidents import comms as c
    from irdrive.incidents.common import actor, zone
    from irdrive.incidents.store import open_incidents

    tz = zone(tz_name)
    config = c.load_config(config_file, required=send)
    with open_incidents() as store:
        incident = store.get(incident_id)
        prepared: list[c.Prepared] = []
        if send:
            channels = config.for_incident(incident.severity, template)
            if not channels:
                raise UsageError(
                    f"no channel in {config.path} takes the {template} template for "
                    f"{incident.severity} (channels.{incident.severity} or channels.default)"
                )
            prepared = [c.prepare(ch, timeout_s=config.timeout_s) for ch in channels]
        now = datetime.now(UTC)
        reminder = c.overdue(incident, now, tz)
        text = c.render(
            template,
            incident,
            store.timeline(incident.id),
            store.actions(incident.id),
            tz=tz,
            now=now,
            status_page_url=config.status_page_url,
            sending=send,
            secrets=[v for p in prepared for v in p.values],
        )
        deliveries: list[c.Delivery] = []
        if send:
            deliveries = c.deliver(text, prepared, kind=c.notify_type(incident))
            incident = c.record(store, incident, template, text, deliveries, actor=actor())
    failed = [d for d in deliveries if not d.ok]
    all_failed = bool(deliveries) and len(failed) == len(deliveries)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "incident_id": incident.id,
                    "template": template,
                    "text": text,
                    "sent": send and not all_failed,
                    "deliveries": [d.to_dict() for d in deliveries],
                    "last_update_at": (
                        incident.last_update_at.isoformat() if incident.last_update_at else None
                    ),
                    "next_update_at": (
                        incident.next_update_at.isoformat() if incident.next_update_at else None
                    ),
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        click.echo(text)
        if not send and reminder:
            click.echo(reminder, err=True)
        for d in deliveries:
            line = f"sent to {d.channel}" if d.ok else f"FAILED to {d.channel}: {d.reason}"
            click.echo(line, err=True)
    if all_failed:
        raise SystemExit(EXIT_FAILED)
