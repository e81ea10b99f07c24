"""The published document, tested as an integrator uses it: a Python client generated from
/openapi.json (openapi-python-client, no warnings) runs the README's first request —
register a client, invite it — then creates a portal login and signs in with it. Every call
goes through the generated functions and models; a response the document does not describe
would raise (raise_on_unexpected_status), so this tests the document, not the handlers.

usage: generated-client.py BASE_URL TENANT_SLUG ADMIN_TOKEN  (the generated package on sys.path)
"""
import sys
import uuid

from portal_client import AuthenticatedClient, Client
from portal_client.api.clients import get_client, register_client
from portal_client.api.invitations import invite_client
from portal_client.api.portal import login, me
from portal_client.api.portal_users import create_portal_user
from portal_client.models import (
    ClientDetail,
    ClientKind,
    Created,
    CreatePortalUserBody,
    InvitationCreated,
    LoginBody,
    Me,
    PortalUserCreated,
    RegisterClientBody,
    SessionIssued,
)


def expect(value, kind, what):
    if not isinstance(value, kind):
        sys.exit(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


def main(base, slug, token):
    staff = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)
    tag = uuid.uuid4().hex[:8]
    created = expect(
        register_client.sync(
            client=staff,
            body=RegisterClientBody(
                display_name="Jo Smith",
                kind=ClientKind.INDIVIDUAL,
                email=f"jo-{tag}@example.org",
            ),
        ),
        Created,
        "register a client",
    )
    invitation = expect(
        invite_client.sync(created.id, client=staff), InvitationCreated, "invite it"
    )
    assert invitation.position > created.position, (invitation, created)
    # Read-your-writes: the read models answer once they include the invitation.
    detail = expect(
        get_client.sync(created.id, client=staff, min_position=invitation.position),
        ClientDetail,
        "read the client back",
    )
    assert str(detail.id) == str(created.id), detail

    username = f"jo.{tag}"
    password = "a long passphrase for Jo"
    expect(
        create_portal_user.sync(
            created.id,
            client=staff,
            body=CreatePortalUserBody(email=f"jo-{tag}@example.org", username=username, password=password),
        ),
        PortalUserCreated,
        "create a portal login",
    )
    anonymous = Client(base_url=base, raise_on_unexpected_status=True)
    session = expect(
        login.sync(slug, client=anonymous, body=LoginBody(username=username, password=password)),
        SessionIssued,
        "sign in",
    )
    portal = AuthenticatedClient(base_url=base, token=session.session_token, raise_on_unexpected_status=True)
    who = expect(me.sync(slug, client=portal), Me, "who am I")
    assert who.username == username, who
    assert [str(c.id) for c in who.clients] == [str(created.id)], who.clients
    print(f"generated client: registered, invited, signed in as {who.username}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
