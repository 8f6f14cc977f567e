"""`zenml stack register|list|describe|set|delete`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zenml_kf.cli.output import echo, print_table

app = typer.Typer(
    help="Stacks combine an orchestrator, an artifact store and a metadata store. The active one "
    "is in .zen/config.yaml; ZENML_KF_STACK overrides it for one shell.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain click help: rendering it with rich costs ~0.1 s per call
)


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="Name of the new stack.")],
    orchestrator: Annotated[
        str | None,
        typer.Option(
            "--orchestrator", "-o", help="Registered orchestrator, or a flavor (kubeflow). [default: default]"
        ),
    ] = None,
    artifact_store: Annotated[
        str | None,
        typer.Option(
            "--artifact-store", "-a", help="Registered artifact store, or a flavor. [default: default]"
        ),
    ] = None,
    metadata_store: Annotated[
        str | None,
        typer.Option(
            "--metadata-store", "-m", help="Registered metadata store, or a flavor. [default: default]"
        ),
    ] = None,
    set_active: Annotated[bool, typer.Option("--set", help="Make it the active stack.")] = False,
) -> None:
    """Register a stack from registered components.

    A component not given is the one named 'default' (the local one `zenml init` made).
    A name that is not a registered component but a flavor (e.g. --orchestrator kubeflow)
    registers a component of that name from its ZENML_KF_<TYPE>_<SETTING> variables.
    A Kubeflow stack needs a bucket artifact store and a shared metadata store.
    """
    from zenml_kf.repository import Repository

    repo = Repository()
    for note in repo.register_stack(name, orchestrator, artifact_store, metadata_store, set_active):
        echo(f"{note[:1].upper()}{note[1:]}.")
    echo(f"Registered stack '{name}'{' and made it active' if set_active else ''}.")


@app.command("list")
def list_stacks() -> None:
    """List stacks; * marks the active one."""
    from zenml_kf.repository import Repository

    repo = Repository()
    active = repo.active_stack_name
    rows = [
        ("*" if name == active else "", name, e.orchestrator, e.artifact_store, e.metadata_store)
        for name, e in sorted(repo.config.stacks.items())
    ]
    print_table("Stacks", ["active", "name", "orchestrator", "artifact store", "metadata store"], rows)


@app.command("describe")
def describe(
    name: Annotated[str | None, typer.Argument(help="Stack name; the active stack if omitted.")] = None,
) -> None:
    """Show a stack's components and their effective settings."""
    from zenml_kf.repository import Repository

    stack = Repository().get_stack(name)
    rows = []
    for role, component in (
        ("orchestrator", stack.orchestrator),
        ("artifact store", stack.artifact_store),
        ("metadata store", stack.metadata_store),
    ):
        info = component.describe()
        # An unset location means the default under .zen/local_stores/: show where that is.
        default = {
            "artifact store": stack.artifact_store.root_uri,
            "metadata store": stack.metadata_store.address,
        }
        for key in ("path", "uri"):
            if key in info and info[key] is None and role in default:
                info[key] = default[role]
        settings = ", ".join(f"{k}={v}" for k, v in info.items() if k not in ("name", "flavor"))
        rows.append((role, info["name"], info["flavor"], settings))
    print_table(f"Stack {stack.name}", ["component", "name", "flavor", "settings"], rows)
    if stack.artifact_store.root_uri:
        echo(f"artifacts: {stack.artifact_store.root_uri}")


@app.command("set")
def set_stack(name: Annotated[str, typer.Argument(help="Stack to make active.")]) -> None:
    """Make a stack the active one for this repository."""
    from zenml_kf.repository import Repository

    Repository().set_active_stack(name)
    echo(f"Active stack: '{name}'.")


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="Stack to delete (not the active one).")],
) -> None:
    """Delete a stack; its components stay registered."""
    from zenml_kf.repository import Repository

    Repository().delete_stack(name)
    echo(f"Deleted stack '{name}'.")


@app.command("export-values")
def export_values(
    name: Annotated[str | None, typer.Argument(help="Stack to export; the active stack if omitted.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the values here instead of printing them.")
    ] = None,
    s3_credentials_secret: Annotated[
        str | None,
        typer.Option(
            "--s3-credentials-secret",
            help="Kubernetes secret pods read S3 keys from: NAME[:ACCESS_KEY_KEY:SECRET_KEY_KEY] "
            "[default with an endpoint: KFP's mlpipeline-minio-artifact; on AWS: the environment].",
        ),
    ] = None,
) -> None:
    """Write the zenml-kf-stack Helm chart's values for a registered Kubeflow stack.

    Install the chart with them (zenml stack deploy does it for you) and KFP writes every
    run's artifacts where this stack reads them.
    """
    import yaml

    from zenml_kf.repository import Repository
    from zenml_kf.stack.chart_values import parse_secret_ref, values_for

    secret = parse_secret_ref(s3_credentials_secret) if s3_credentials_secret else None
    values = values_for(Repository().stack_document(name), secret)
    text = yaml.safe_dump(values, sort_keys=False)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
    echo(f"Wrote chart values of stack '{values['stackName']}' to {output}.")


@app.command("import-values")
def import_values(
    source: Annotated[
        Path,
        typer.Argument(
            help="Chart values, the rendered zenml-kf-stack ConfigMap (or a whole 'helm template' "
            "output), or that ConfigMap's stack.yaml."
        ),
    ],
    name: Annotated[str | None, typer.Option("--name", help="Register the stack under this name.")] = None,
    release: Annotated[
        str,
        typer.Option("--release", help="Helm release the values are installed as (names in-chart services)."),
    ] = "zenml-kf-stack",
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Namespace the chart is installed in.")
    ] = "default",
    set_active: Annotated[bool, typer.Option("--set", help="Make it the active stack.")] = False,
) -> None:
    """Register the stack a chart installation describes (components named after it)."""
    from zenml_kf.repository import Repository
    from zenml_kf.stack.chart_values import load_stack_doc

    doc = load_stack_doc(source, release, namespace)
    if name is not None:
        doc = doc.model_copy(update={"stack": name})
    for note in Repository().register_stack_document(doc, set_active):
        echo(f"Registered {note}.")
    echo(f"Registered stack '{doc.stack}'{' and made it active' if set_active else ''}.")


@app.command("deploy")
def deploy(
    name: Annotated[str | None, typer.Argument(help="Stack to deploy; the active stack if omitted.")] = None,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Namespace pipelines run in (where KFP runs them).")
    ] = "kubeflow",
    release: Annotated[str, typer.Option("--release", help="Helm release name.")] = "zenml-kf-stack",
    values: Annotated[
        list[Path] | None, typer.Option("--values", "-f", help="More values files, on top of the stack's.")
    ] = None,
    set_values: Annotated[
        list[str] | None, typer.Option("--set", help="More values, KEY=VALUE as for helm (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the manifests (helm template) instead of installing.")
    ] = False,
) -> None:
    """Install (or upgrade) the zenml-kf-stack chart for a stack with helm."""
    from zenml_kf.repository import Repository
    from zenml_kf.stack.deploy import deploy_chart

    repo = Repository()
    output = deploy_chart(
        repo.stack_document(name), namespace, release, values or [], set_values or [], dry_run
    )
    if dry_run:
        typer.echo(output, nl=False)
    else:
        echo(output.rstrip())
        echo(
            f"Installed release '{release}' in namespace '{namespace}'; 'helm test {release} -n {namespace}' checks it."
        )
