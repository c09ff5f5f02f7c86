"""CLI commands for organisation signing keys: `rxring keys init`.

A thin shell over :mod:`rxring.keys`.
"""

from __future__ import annotations

import click

from ..keys import init_keys, read_passphrase


@click.group("keys")
def keys_group():
    """Organisation signing keys for evidence packages (Ed25519).

    `rxring keys init -o DIR` makes a key pair once; sign packages with
    `rxring evidence RING --sign DIR/rxring-signing-key.pem` and hand the public key
    to whoever checks them (`rxring evidence verify case.zip --pubkey …pub.pem`).
    """


@keys_group.command("init")
@click.option("-o", "--output", "directory", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder for rxring-signing-key.pem (private, mode 0600) and rxring-signing-key.pub.pem.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True),
              help="Encrypt the private key with the first line of this file.")
def keys_init(directory, passphrase_file):
    """Create the organisation's Ed25519 signing key pair (never overwrites one).

    Keep the private key with the unit (and a backup offline); publish the
    public key and its key id, which every signed package names.
    """
    pair = init_keys(directory, read_passphrase(passphrase_file))
    click.echo(f"私钥 private key (keep it secret, mode 0600): {pair.private}")
    click.echo(f"公钥 public key (hand it to verifiers): {pair.public}")
    click.echo(f"密钥标识 key id: {pair.key_id}")


COMMANDS = [keys_group]
