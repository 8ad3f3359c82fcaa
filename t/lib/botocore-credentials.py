"""Resolves AWS credentials with botocore's default chain, in the
environment it is given, and prints which provider answered as JSON:
{"method": ..., "accessKeyId": ..., "sessionToken": ...}, {"method": null}
when the chain found nothing, or {"error": ..., "message": ...}.
Used by the tests as the reference for the chain order and to check that
the fake credential sources speak the real wire protocol."""

import json
import sys


def main():
    try:
        import botocore.session

        creds = botocore.session.Session().get_credentials()
        if creds is None:
            out = {"method": None}
        else:
            frozen = creds.get_frozen_credentials()
            out = {
                "method": creds.method,
                "accessKeyId": frozen.access_key,
                "sessionToken": frozen.token,
            }
    except Exception as err:  # reported to the test, not raised
        out = {"error": type(err).__name__, "message": str(err)}
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
