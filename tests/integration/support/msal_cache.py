"""Writes and reads MSAL token caches with Microsoft's own libraries (msal, msal-extensions), so
the tests clean caches in the real format rather than one written by hand.

    msal_cache.py write <cache file> <spec.json>
        spec: a list of sign-ins {"oid", "tid" (home tenant), "realm" (tenant signed in to),
        "username", "secret" (a marker put into each token)}; each is added to the cache the way
        MSAL records a token response (account, access, refresh and ID token, app metadata),
        and saved through msal-extensions' file persistence (as the shared cache is kept on
        Linux and macOS without a keyring).
    msal_cache.py read <cache file>
        prints {"accounts": [[username, home_account_id, realm], ...], "secrets": [...]} as MSAL
        itself reads the cache back.
"""
import base64
import json
import sys

import msal
from msal_extensions import FilePersistence, PersistedTokenCache

# Visual Studio's client id, which Git Credential Manager uses for Azure Repos.
CLIENT = "872cd9fa-d31f-45e0-9eab-6e460a02d1f1"
AZURE_DEVOPS = "499b84ac-1321-427f-aa17-267ca6975798/.default"


def b64(obj):
    raw = json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def write(path, spec):
    cache = PersistedTokenCache(FilePersistence(path))
    for s in spec:
        claims = {"oid": s["oid"], "tid": s["realm"], "preferred_username": s["username"],
                  "aud": CLIENT, "iat": 1700000000, "exp": 1700003600}
        id_token = b64({"alg": "none"}) + "." + b64(claims) + "."
        cache.add({
            "client_id": CLIENT,
            "scope": [AZURE_DEVOPS],
            "token_endpoint": "https://login.microsoftonline.com/%s/oauth2/v2.0/token" % s["realm"],
            "grant_type": "authorization_code",
            "response": {
                "access_token": "AT-" + s["secret"],
                "refresh_token": "RT-" + s["secret"],
                "id_token": id_token,
                "client_info": b64({"uid": s["oid"], "utid": s["tid"]}),
                "token_type": "Bearer",
                "expires_in": 3600,
                "foci": "1",
            },
        })


def read(path):
    cache = msal.SerializableTokenCache()
    with open(path) as f:
        cache.deserialize(f.read())
    kinds = msal.TokenCache.CredentialType
    accounts = sorted([a["username"], a["home_account_id"], a["realm"]]
                      for a in cache.search(kinds.ACCOUNT))
    secrets = sorted(t["secret"] for kind in (kinds.ACCESS_TOKEN, kinds.REFRESH_TOKEN)
                     for t in cache.search(kind))
    print(json.dumps({"accounts": accounts, "secrets": secrets}))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        with open(sys.argv[3]) as f:
            write(sys.argv[2], json.load(f))
    else:
        read(sys.argv[2])
