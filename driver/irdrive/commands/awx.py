"""``irdrive awx``: AWX job templates with surveys, from the one parameter contract."""

from __future__ import annotations

import json
from pathlib import Path

import click

from irdrive.errors import handle_errors


@click.group("awx")
def awx() -> None:
    """AWX (and Ansible Automation Platform) from the runbook catalog."""


@awx.command("export")
@click.option(
    "--organization",
    default="Default",
    show_default=True,
    envvar="IRDRIVE_AWX_ORGANIZATION",
    help="AWX organization of the project, inventory, credentials and templates.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "awx-import", "job-templates"]),
    default="json",
    show_default=True,
    help="json: one record a runbook; awx-import: for `awx import`; "
    "job-templates: awx.awx module arguments (vars file of awx/configure.yml).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of stdout.",
)
@click.option("--scm-url", default="", envvar="IRDRIVE_AWX_SCM_URL", help="Git URL of the project.")
@click.option("--scm-branch", default="", help="Branch, tag or commit of the project.")
@click.option(
    "--ee-image",
    default="localhost/irdrive-ee:latest",
    show_default=True,
    help="Image of the execution environment (built from execution-environment.yml).",
)
@handle_errors
def export(
    organization: str,
    fmt: str,
    output: Path | None,
    scm_url: str,
    scm_branch: str,
    ee_image: str,
) -> None:
    """Export a job template per runbook (`irdrive <runbook>`), its survey generated from the
    roles' meta/argument_specs.yml, and the security-breach approval workflow.

    Secret parameters become password questions; destructive runbooks take no extra vars at
    launch and ask for their name as a confirmation, which the playbook checks. Parameters no
    survey question can carry are listed under "extra_vars_only" (json) with the reason.

    \b
    Examples:
      irdrive awx export --format awx-import -o irdrive-awx.json && awx import < irdrive-awx.json
      irdrive awx export --format job-templates -o awx/job_templates.json
    """
    from irdrive.awx.export import Settings
    from irdrive.awx.export import export as build
    from irdrive.catalog import Catalog
    from irdrive.paths import find_project

    settings = Settings(
        organization=organization, scm_url=scm_url, scm_branch=scm_branch, ee_image=ee_image
    )
    data = build(Catalog(find_project()), fmt, settings)
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output} ({fmt})", err=True)
