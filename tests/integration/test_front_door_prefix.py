"""Behind the front door referral is served under /referral/: its sign-in redirects must stay
there (a redirect to /sign-in would land on the front door's 404)."""

from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from tests.support.apps import build_app


def test_sign_in_and_sign_out_redirects_keep_the_front_doors_prefix(migrated_database, infra,
                                                                    auth_keys, tmp_path):
    app = build_app("referral", database_url=migrated_database("referral", "prefix"),
                    amqp_url=infra.amqp_url, keys=auth_keys, mail_dir=tmp_path)
    with TestClient(app, root_path="/referral", follow_redirects=False,
                    headers={"accept": "text/html"}) as browser:
        asked = browser.get("/board")
        assert asked.status_code == 303
        location = urlsplit(asked.headers["location"])
        assert location.path == "/referral/sign-in"
        assert parse_qs(location.query)["next"] == ["/referral/board"]

        page = browser.get("/sign-in")
        assert page.status_code == 200
        assert 'name="next" value="/referral/"' in page.text  # home, under the prefix

        home = browser.get("/")  # where a sign-in without `next` lands
        assert home.status_code == 303 and home.headers["location"].startswith(
            "/referral/sign-in")
        signed_out = browser.post("/sign-out")
        assert signed_out.status_code == 303
        assert signed_out.headers["location"] == "/referral/sign-in"


def test_the_home_page_sends_each_member_of_staff_to_their_own_page(migrated_database, infra,
                                                                     auth_keys, tmp_path):
    app = build_app("referral", database_url=migrated_database("referral", "home"),
                    amqp_url=infra.amqp_url, keys=auth_keys, mail_dir=tmp_path)
    issuer = TokenIssuer(auth_keys[0], "clinic", "clinic-staff")
    with TestClient(app, root_path="/referral", follow_redirects=False) as browser:
        for role, page in ((Role.receptionist, "/referral/board"),
                           (Role.admin, "/referral/board"),
                           (Role.therapist, "/referral/caseload")):
            token = issuer.issue(Principal(subject="someone", role=role))
            home = browser.get("/", headers={"Authorization": f"Bearer {token}",
                                             "accept": "text/html"})
            assert (home.status_code, home.headers["location"]) == (303, page)


def test_reached_directly_the_redirects_have_no_prefix(migrated_database, infra, auth_keys,
                                                       tmp_path):
    app = build_app("referral", database_url=migrated_database("referral", "noprefix"),
                    amqp_url=infra.amqp_url, keys=auth_keys, mail_dir=tmp_path)
    with TestClient(app, follow_redirects=False, headers={"accept": "text/html"}) as browser:
        asked = browser.get("/caseload")
        assert asked.headers["location"] == "/sign-in?next=/caseload"
        assert browser.post("/sign-out").headers["location"] == "/sign-in"
