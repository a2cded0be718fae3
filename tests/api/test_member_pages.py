"""The hosted member pages through the real app: create an account, sign in, consent, choose a
member one represents, connected apps and revoking, on both databases.

A `Visitor` fills the forms as a browser without JavaScript would; codes are
read from the outbox (the plan runs without SMTP, in demo mode).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from joserfc import jws

from domain.apps import GrantStatus
from domain.members import RepresentationKind
from domain.signin import mask_email
from tests.member_plan import (
    APP,
    SECOND_APP,
    MemberPlan,
    Visitor,
    authorize_path,
    redirect_query,
)


def account_of(plan: MemberPlan, email: str) -> tuple[str, list[tuple[str, RepresentationKind]]]:
    with plan.services.unit_of_work() as uow:
        account = uow.accounts.get_by_email(email)
        assert account is not None, f"no account for {email}"
        links = [(r.member_key, r.kind) for r in uow.representations.list_for_account(account.id)]
    return account.id, links


def start_authorization(visitor: Visitor, client_id: str = APP) -> tuple[Any, dict[str, str]]:
    """The app sends the signed-in visitor to authorize: the page they land on, and the request."""
    path, params = authorize_path(client_id)
    return visitor.follow(visitor.get(path)), params


def decide(visitor: Visitor, page: Any, decision: str = "allow") -> Any:
    return visitor.submit(page, "decision", {"decision": decision})


def tokens(plan: MemberPlan, visitor: Visitor, client_id: str = APP) -> dict[str, Any]:
    page, params = start_authorization(visitor, client_id)
    answer = decide(visitor, page) if page.status_code == 200 else page
    assert answer.status_code == 302, answer.text
    issued = plan.exchange(redirect_query(answer)["code"], params)
    assert issued.status_code == 200, issued.text
    return dict(issued.json())


def fhir(plan: MemberPlan, token: str, path: str) -> Any:
    return plan.client.get(f"/fhir/r4/{path}", headers={"Authorization": f"Bearer {token}"})


def form_action(html: str) -> str:
    found = re.search(r'<form method="post" action="([^"]*)"', html)
    assert found is not None
    return found.group(1)


# Create an account


def test_a_member_creates_an_account_from_their_id_card_details_and_is_signed_in(
    member_plan: MemberPlan,
) -> None:
    person = member_plan.people.adults[0]
    visitor = member_plan.visitor()

    done = visitor.create_account(person)

    assert done.status_code == 303
    assert done.headers["location"] == "/account"
    assert visitor.session_cookie() is not None
    assert account_of(member_plan, person.details.email)[1] == [
        (person.key, RepresentationKind.SELF)
    ]
    page = visitor.get("/account")
    assert page.status_code == 200
    assert "Apps connected to your records" in page.text
    assert f"Signed in as {person.details.email}" in page.text


def test_details_typed_the_way_people_type_them_still_find_the_record(
    member_plan: MemberPlan,
) -> None:
    child = member_plan.people.children[0]  # Nguyễn Thị Dolores Lefèvre, ZIP+4 on record
    details = child.details
    member_id = details.member_id.lower()
    sloppy = {
        "first_name": "  nguyen THI ",
        "last_name": "LEFEVRE",
        "member_id": f" {member_id[:3]}-{member_id[3:7]} {member_id[7:]}",
        "zip_code": details.zip_code[:5],
        "birth_month": f"0{details.birth_date.month}"[-2:],
    }

    done = member_plan.visitor().create_account(child, **sloppy)

    assert done.status_code == 303, done.text
    assert account_of(member_plan, details.email)[1] == [(child.key, RepresentationKind.SELF)]


def test_details_that_match_nobody_lead_to_the_same_code_page_and_no_email(
    member_plan: MemberPlan,
) -> None:
    person = member_plan.people.adults[1]
    visitor = member_plan.visitor()
    email = "matches-nobody@example.org"

    started = visitor.submit(
        visitor.get("/login/create"),
        "first_name",
        person.form(member_id="CCH000000000", email=email),
    )
    page = visitor.get(started.headers["location"])
    entered = visitor.submit(page, "code", {"code": "123456"})

    assert started.status_code == 303
    assert started.headers["location"] == "/login/code"
    assert "If the details you entered match a member record" in page.text
    assert "we found no match: check your details against your member ID card" in page.text
    assert "call the member services number on the card" in page.text
    assert member_plan.mail_count(email) == 0
    assert entered.status_code == 400
    assert "That code is not right" in entered.text
    with member_plan.services.unit_of_work() as uow:
        assert uow.accounts.get_by_email(email) is None


def test_an_email_that_already_has_an_account_is_refused_with_the_way_to_sign_in(
    member_plan: MemberPlan,
) -> None:
    taken = member_plan.account_for(member_plan.people.adults[2])
    visitor = member_plan.visitor()

    # Another member's details with the taken email: refused, whatever the details.
    other = member_plan.people.adults[3]
    answer = visitor.submit(
        visitor.get("/login/create"), "first_name", other.form(email=taken.upper())
    )

    assert answer.status_code == 409
    assert "This email already has an account" in answer.text
    assert "Sign in with this address instead" in answer.text
    assert 'href="/login"' in answer.text
    assert member_plan.mail_count(taken) == 1  # the code of its own creation only


def test_a_member_record_that_has_an_account_gets_no_second_one(member_plan: MemberPlan) -> None:
    person = member_plan.people.adults[2]
    first = member_plan.account_for(person)

    answer = member_plan.visitor().create_account(person, email="a-second-one@example.org")

    assert answer.status_code == 409
    assert "Your member record already has an account" in answer.text
    assert mask_email(first) in answer.text
    with member_plan.services.unit_of_work() as uow:
        assert uow.accounts.get_by_email("a-second-one@example.org") is None


def test_missing_and_malformed_fields_are_named_and_tied_to_their_inputs(
    member_plan: MemberPlan,
) -> None:
    visitor = member_plan.visitor()
    form = {"first_name": " ", "birth_month": "2", "birth_day": "30", "birth_year": "1980"}
    form |= {"member_id": "--", "zip_code": "981", "email": "not-an-address"}

    answer = visitor.submit(visitor.get("/login/create"), "first_name", form)

    assert answer.status_code == 400
    summary = answer.text.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    assert 'role="alert"' in summary
    for name in ("first_name", "last_name", "member_id", "zip_code", "email"):
        assert f'href="#{name}"' in summary
        field = re.search(rf'<input id="{name}"[^>]*>', answer.text)
        assert field is not None
        assert re.search(rf'aria-describedby="[^"]*{name}-error"', field.group(0))
        assert 'aria-invalid="true"' in field.group(0)
        assert f'id="{name}-error"' in answer.text
    assert 'href="#birth_month"' in summary
    assert "Enter a real date of birth" in answer.text
    assert 'value="not-an-address"' in answer.text


# Sign in


def test_a_member_signs_in_later_with_just_the_email_and_a_new_code(
    member_plan: MemberPlan,
) -> None:
    email = member_plan.account_for(member_plan.people.adults[2])
    visitor = member_plan.visitor()

    started = visitor.submit(visitor.get("/login"), "email", {"email": f" {email.upper()} "})
    page = visitor.get(started.headers["location"])
    done = visitor.submit(page, "code", {"code": member_plan.code_for(email)})

    assert f"If an account uses {email}, we just sent a code to it." in page.text
    assert done.status_code == 303
    assert done.headers["location"] == "/account"
    assert visitor.get("/account").status_code == 200


def test_a_wrong_code_is_refused_on_the_page_and_the_right_one_still_works(
    member_plan: MemberPlan,
) -> None:
    person = member_plan.people.adults[3]
    visitor = member_plan.visitor()
    started = visitor.submit(visitor.get("/login/create"), "first_name", person.form())
    page = visitor.get(started.headers["location"])
    right = member_plan.code_for(person.details.email)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    refused = visitor.submit(page, "code", {"code": wrong})
    malformed = visitor.submit(page, "code", {"code": "12ab"})
    done = visitor.submit(page, "code", {"code": f"{right[:3]} {right[3:]}"})

    assert refused.status_code == 400
    assert "That code is not right" in refused.text
    assert 'aria-describedby="code-error"' in refused.text
    assert malformed.status_code == 400
    assert "The code is the 6 digits in the email" in malformed.text
    assert done.status_code == 303
    member_plan.accounts[person.key] = person.details.email


def test_asking_for_a_new_code_makes_the_old_one_stop_working(member_plan: MemberPlan) -> None:
    child = member_plan.people.children[1]
    visitor = member_plan.visitor()
    started = visitor.submit(visitor.get("/login/create"), "first_name", child.form())
    page = visitor.get(started.headers["location"])
    old = member_plan.code_for(child.details.email)

    asked = visitor.submit_to(page, "/login/code/resend", {})
    new = member_plan.code_for(child.details.email)
    again = visitor.get(asked.headers["location"])
    stale = visitor.submit(again, "code", {"code": old})
    done = visitor.submit(again, "code", {"code": new})

    assert asked.status_code == 303
    assert "We sent a new code if we could" in again.text
    assert member_plan.mail_count(child.details.email) == 2
    assert stale.status_code == (400 if old != new else 303)
    assert done.status_code == 303
    member_plan.accounts[child.key] = child.details.email


def test_a_signed_in_person_who_opens_the_sign_in_page_goes_to_their_account(
    member_plan: MemberPlan,
) -> None:
    visitor = member_plan.signed_in(member_plan.people.adults[2])

    assert visitor.get("/login").headers["location"] == "/account"


def test_signing_out_ends_the_session_for_good(member_plan: MemberPlan) -> None:
    visitor = member_plan.signed_in(member_plan.people.adults[2], fresh=True)
    cookie = visitor.session_cookie()
    page = visitor.get("/account")

    out = visitor.submit_to(page, "/logout", {})
    replayed = member_plan.visitor()
    replayed.client.cookies.set(member_plan.services.session_cookie().name, cookie or "")

    assert out.status_code == 303
    assert out.headers["location"] == "/login?done=signed_out"
    assert visitor.session_cookie() is None
    assert "You are signed out." in visitor.get("/login?done=signed_out").text
    assert replayed.get("/account").headers["location"] == "/login?next=%2Faccount"


def test_notices_named_in_the_query_string_are_shown_only_when_the_page_has_them(
    member_plan: MemberPlan,
) -> None:
    visitor = member_plan.signed_in(member_plan.people.adults[2])

    for path in ("/login?done=nonsense", "/account?done=%7B%7B7*7%7D%7D", "/login?done="):
        page = member_plan.visitor().get(path) if path.startswith("/login") else visitor.get(path)
        assert page.status_code == 200, path
        assert 'role="status"' not in page.text


def test_next_never_leads_off_the_site(member_plan: MemberPlan) -> None:
    visitor = member_plan.visitor()

    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "/account\r\nX:y"):
        page = visitor.get("/login", params={"next": bad})
        assert form_action(page.text) == "/login"
    good = visitor.get("/login", params={"next": "/account"})
    assert form_action(good.text) == "/login?next=%2Faccount"


# Consent


def test_an_app_sends_a_member_to_sign_in_and_back_to_its_consent_page(
    member_plan: MemberPlan,
) -> None:
    email = member_plan.account_for(member_plan.people.adults[4])
    visitor = member_plan.visitor()
    path, _ = authorize_path()

    to_login = visitor.get(path)
    next_url = redirect_query(to_login)["next"]
    done = visitor.sign_in(email, next_url)
    page = visitor.follow(done)

    assert to_login.status_code == 302
    assert next_url.startswith("/oauth/authorize?")
    assert done.headers["location"] == next_url
    assert page.status_code == 200
    assert "Allow Health Wallet to read health plan records?" in page.text


def test_the_consent_page_shows_the_app_and_says_it_reads_everything_until_revoked(
    member_plan: MemberPlan,
) -> None:
    person = member_plan.people.adults[4]
    visitor = member_plan.signed_in(person)

    page, _ = start_authorization(visitor)

    text = page.text
    assert page.status_code == 200
    assert "Made by Wallet Inc." in text
    assert '<img class="app-logo" src="https://wallet.example/logo.png" alt=""' in text
    assert 'href="https://wallet.example/privacy"' in text
    assert "Health Wallet answered Cascade Community Health Plan&#39;s privacy questions." in text
    assert f"For: your own records ({person.details.first_name}" in text
    assert "can read all of the records" in text
    for words in ("claims", "coverage", "clinical records", "care plans", "providers"):
        assert words in text
    assert "It is all or nothing" in text
    assert "You can disconnect Health Wallet at any time" in text
    assert 'value="allow"' in text
    assert 'value="deny"' in text
    csp = page.headers["content-security-policy"]
    assert "form-action 'self' https://app.example" in csp
    assert "script-src" not in csp
    assert "default-src 'none'" in csp


def test_an_app_that_did_not_answer_the_privacy_questions_is_shown_as_such_not_blocked(
    member_plan: MemberPlan,
) -> None:
    visitor = member_plan.signed_in(member_plan.people.adults[4])

    page, _ = start_authorization(visitor, SECOND_APP)

    assert page.status_code == 200
    assert "Care Tracker has not answered" in page.text
    assert "Care Tracker gave no privacy policy." in page.text


def test_deny_sends_access_denied_to_the_app_and_grants_nothing(member_plan: MemberPlan) -> None:
    person = member_plan.people.adults[1]
    email = member_plan.account_for(person)
    visitor = member_plan.signed_in(person)
    page, params = start_authorization(visitor, SECOND_APP)

    denied = decide(visitor, page, "deny")

    assert denied.status_code == 302
    assert redirect_query(denied)["error"] == "access_denied"
    assert redirect_query(denied)["state"] == params["state"]
    account_id, _ = account_of(member_plan, email)
    with member_plan.services.unit_of_work() as uow:
        assert not [g for g in uow.grants.list_for_account(account_id) if g.client_id == SECOND_APP]


# Connected apps and revoking (SECURITY D.24)


def test_the_account_page_shows_each_app_when_it_was_allowed_by_whom_and_what_it_pulled(
    member_plan: MemberPlan,
) -> None:
    person = member_plan.people.adults[4]
    visitor = member_plan.signed_in(person)
    token = tokens(member_plan, visitor)["access_token"]
    assert fhir(member_plan, token, f"ExplanationOfBenefit?patient={person.key}").status_code == 200
    assert fhir(member_plan, token, f"Patient/{person.key}").status_code == 200

    page = visitor.get("/account")

    app = page.text.split("<h3>Health Wallet</h3>", 1)[1].split("Disconnect Health Wallet", 1)[0]
    assert "by you" in app
    assert "Last read records" in app
    assert "Not yet" not in app
    assert re.search(r"claims: [1-9]", app)
    assert "member profile: 1" in app
    assert "Disconnect Health Wallet" in page.text


def test_revoking_on_the_account_page_stops_the_apps_very_next_request(
    member_plan: MemberPlan,
) -> None:
    person = member_plan.people.adults[0]
    visitor = member_plan.signed_in(person)
    issued = tokens(member_plan, visitor)
    assert fhir(member_plan, issued["access_token"], f"Patient/{person.key}").status_code == 200
    account_id, _ = account_of(member_plan, member_plan.account_for(person))
    with member_plan.services.unit_of_work() as uow:
        grant = next(g for g in uow.grants.list_for_account(account_id) if g.is_active)

    confirm = visitor.get(f"/account/apps/{grant.id}/revoke")
    with member_plan.services.unit_of_work() as uow:
        still = uow.grants.get(grant.id)
    done = visitor.submit_to(confirm, f"/account/apps/{grant.id}/revoke", {})
    after = fhir(member_plan, issued["access_token"], f"Patient/{person.key}")
    refreshed = member_plan.client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": issued["refresh_token"],
            "client_id": APP,
        },
    )

    assert confirm.status_code == 200
    assert "Disconnect Health Wallet?" in confirm.text
    assert still is not None and still.is_active  # nothing changes before the confirmation
    assert done.status_code == 303
    assert done.headers["location"] == "/account?done=revoked"
    assert after.status_code == 401
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    with member_plan.services.unit_of_work() as uow:
        archived = uow.grants.get(grant.id)
        events = [e.action for e in uow.access_events.list_for_member(person.key, 50)]
    assert archived is not None
    assert archived.status is GrantStatus.REVOKED
    assert archived.revoked_by == account_id
    assert "consent-revoked" in events
    page = visitor.get("/account?done=revoked")
    assert "The app is disconnected" in page.text
    assert "Disconnected apps (1)" in page.text
    # A new consent covers everything again: the app asks, the member allows again.
    again, _ = start_authorization(visitor)
    assert again.status_code == 200
    renewed = tokens(member_plan, visitor)
    assert fhir(member_plan, renewed["access_token"], f"Patient/{person.key}").status_code == 200


def test_nobody_can_see_or_revoke_a_grant_of_a_member_they_do_not_act_for(
    member_plan: MemberPlan,
) -> None:
    owner = member_plan.people.adults[4]
    tokens(member_plan, member_plan.signed_in(owner))
    account_id, _ = account_of(member_plan, member_plan.account_for(owner))
    with member_plan.services.unit_of_work() as uow:
        grant = next(g for g in uow.grants.list_for_account(account_id) if g.is_active)
    stranger = member_plan.signed_in(member_plan.people.adults[2])
    page = stranger.get("/account")

    looked = stranger.get(f"/account/apps/{grant.id}/revoke")
    posted = stranger.client.post(
        f"/account/apps/{grant.id}/revoke",
        data={"csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )

    assert looked.status_code == 404
    assert posted.status_code == 404
    with member_plan.services.unit_of_work() as uow:
        kept = uow.grants.get(grant.id)
    assert kept is not None and kept.is_active


# Personal representatives


def test_a_parent_links_a_child_the_plan_lists_and_chooses_whose_records_an_app_reads(
    member_plan: MemberPlan,
) -> None:
    parent, child = member_plan.people.parent, member_plan.people.children[2]
    visitor = member_plan.signed_in(parent)
    email = member_plan.account_for(parent)

    started = visitor.submit(visitor.get("/account/represent"), "first_name", child.claim_form())
    page = visitor.get(started.headers["location"])
    linked = visitor.submit(page, "code", {"code": member_plan.code_for(email)})
    account_id, links = account_of(member_plan, email)

    assert "If our records list you as this member&#39;s personal representative" in page.text
    assert linked.headers["location"] == "/account?done=linked"
    assert sorted(links) == sorted(
        [(parent.key, RepresentationKind.SELF), (child.key, RepresentationKind.PARENT)]
    )
    account_page = visitor.get("/account?done=linked")
    assert "The member is added" in account_page.text
    assert f"Apps connected to {child.details.first_name}" in account_page.text

    # At authorization the parent says whose records the app reads, and consents for them.
    path, params = authorize_path()
    to_choose = visitor.get(path)
    assert to_choose.headers["location"].startswith("/login/choose?next=")
    chooser = visitor.get(to_choose.headers["location"])
    assert "My own records" in chooser.text
    assert "you are their parent" in chooser.text
    chosen = visitor.submit(chooser, "member", {"member": child.key})
    consent = visitor.follow(chosen)
    assert f"For: {child.details.first_name}" in consent.text
    assert "whom you represent" in consent.text
    assert "Choose another member" in consent.text
    allowed = decide(visitor, consent)
    issued = member_plan.exchange(redirect_query(allowed)["code"], params)
    assert issued.status_code == 200, issued.text
    assert issued.json()["patient"] == child.key
    claims = orjson.loads(jws.extract_compact(issued.json()["id_token"].encode()).payload)
    assert re.search(r"/fhir/r4/RelatedPerson/[\w-]+$", claims["fhirUser"])  # the parent, as listed
    read = fhir(member_plan, issued.json()["access_token"], f"Patient/{child.key}")
    assert read.status_code == 200
    assert (
        fhir(member_plan, issued.json()["access_token"], f"Patient/{parent.key}").status_code == 404
    )
    with member_plan.services.unit_of_work() as uow:
        grant = next(g for g in uow.grants.list_for_member(child.key) if g.is_active)
    assert grant.account_id == account_id


def test_linking_a_member_the_plan_does_not_list_looks_the_same_and_sends_nothing(
    member_plan: MemberPlan,
) -> None:
    stranger = member_plan.people.adults[3]
    email = member_plan.account_for(stranger)
    visitor = member_plan.signed_in(stranger)
    sent_before = member_plan.mail_count(email)
    child = member_plan.people.children[2]

    started = visitor.submit(visitor.get("/account/represent"), "first_name", child.claim_form())
    page = visitor.get(started.headers["location"])
    entered = visitor.submit(page, "code", {"code": "000000"})

    assert started.headers["location"] == "/login/code"
    assert "If our records list you as this member&#39;s personal representative" in page.text
    assert member_plan.mail_count(email) == sent_before
    assert entered.status_code == 400
    assert account_of(member_plan, email)[1] == [(stranger.key, RepresentationKind.SELF)]


# Pages, cookies and languages


def test_pages_cannot_be_cached_or_framed_and_allow_no_inline_code(
    member_plan: MemberPlan,
) -> None:
    visitor = member_plan.signed_in(member_plan.people.adults[2])

    for path in ("/login", "/login/create", "/account", "/account/represent", "/login/choose"):
        page = visitor.client.get(path)
        assert page.status_code == 200, path
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "style-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "<script" not in page.text
        assert "style=" not in page.text
        assert '<html lang="en">' in page.text
    css = visitor.client.get("/static/web/pai.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


def test_every_form_refuses_a_post_without_its_csrf_token(member_plan: MemberPlan) -> None:
    visitor = member_plan.signed_in(member_plan.people.adults[2])
    forms = {
        "/login": {"email": "x@example.org"},
        "/login/create": {"first_name": "x"},
        "/login/code": {"code": "123456"},
        "/login/code/resend": {},
        "/login/choose": {"member": "x"},
        "/account/represent": {"first_name": "x"},
        "/logout": {},
    }
    ticket = visitor.submit(visitor.get("/login/create"), "first_name", {})  # a ticket-less 400
    assert ticket.status_code == 400

    for path, data in forms.items():
        for token in (None, "forged"):
            sent = data | ({"csrf_token": token} if token else {})
            answer = visitor.client.post(path, data=sent, follow_redirects=False)
            assert answer.status_code in (403, 303), path
            if answer.status_code == 303:  # the code page without a ticket: back to the start
                assert "done=expired" in answer.headers["location"], path
            else:
                assert "This page has expired" in answer.text
    assert visitor.get("/account").status_code == 200  # still signed in: nothing was done


def test_cookies_are_http_only_and_same_site_lax_and_secure_under_https(
    member_plan: MemberPlan,
) -> None:
    from dataclasses import replace

    from starlette.testclient import TestClient

    from api.app import create_app

    plain = member_plan.visitor()
    login = plain.get("/login")
    started = plain.submit(login, "email", {"email": "cookie-check@example.org"})
    for header in [*login.headers.get_list("set-cookie"), *started.headers.get_list("set-cookie")]:
        assert "HttpOnly" in header
        assert "SameSite=lax" in header
        assert "Secure" not in header

    settings = member_plan.services.settings.model_copy(update={"base_url": "https://pai.example"})
    app = create_app(settings, replace(member_plan.services, settings=settings))
    with TestClient(app, base_url="https://pai.example", client=("10.9.9.9", 1)) as secure:
        page = secure.get("/login")
        cookie = page.headers["set-cookie"]
        assert cookie.startswith("__Host-pai_csrf=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
        assert page.headers["strict-transport-security"].startswith("max-age=")
        token = _csrf(page.text)
        sent = secure.post(
            "/login",
            data={"email": "cookie-check@example.org", "csrf_token": token},
            follow_redirects=False,
        )
        ticket = sent.headers["set-cookie"]
        assert ticket.startswith("__Host-pai_signin=")
        assert "Secure" in ticket and "HttpOnly" in ticket and "SameSite=lax" in ticket


def test_pages_speak_spanish_when_the_browser_or_the_person_asks(member_plan: MemberPlan) -> None:
    browser = member_plan.visitor(**{"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})

    page = browser.get("/login/create")
    switched = member_plan.visitor().get("/login?lang=es")
    remembered_in = switched.headers["set-cookie"]

    assert '<html lang="es">' in page.text
    assert page.headers["content-language"] == "es"
    assert "Crear una cuenta" in page.text
    assert "Número de miembro" in page.text
    assert 'hreflang="en"' in page.text  # the switch back
    assert "Iniciar sesión" in switched.text
    assert remembered_in.startswith("pai_lang=es")


def test_the_code_email_speaks_the_language_of_the_page(member_plan: MemberPlan) -> None:
    person = member_plan.people.children[0]
    email = member_plan.account_for(person)
    browser = member_plan.visitor(**{"Accept-Language": "es"})

    browser.submit(browser.get("/login"), "email", {"email": email})

    with member_plan.services.unit_of_work() as uow:
        message = next(m for m in uow.outbox.latest(100) if m.to == email)
    assert message.language == "es"
    assert message.subject.startswith("Su código de")
    assert "Ingrese este código para iniciar sesión." in message.text


def test_the_demo_outbox_and_callback_exist_in_demo_mode_only(
    member_plan: MemberPlan,
) -> None:
    from dataclasses import replace

    from starlette.testclient import TestClient

    from api.app import create_app
    from api.settings import Mode

    email = member_plan.account_for(member_plan.people.adults[2])
    html = member_plan.client.get("/dev/outbox")
    listed = member_plan.client.get("/dev/outbox", headers={"Accept": "application/json"})
    settings = member_plan.services.settings.model_copy(update={"mode": Mode.PRODUCTION})
    production = create_app(settings, replace(member_plan.services, settings=settings))
    callback = member_plan.client.get("/demo/callback?code=abc&state=xyz")
    with TestClient(production) as client:
        absent = client.get("/dev/outbox")
        no_callback = client.get("/demo/callback?code=abc")

    assert html.status_code == 200
    assert email in html.text
    assert any(m["to"] == email for m in listed.json()["messages"])
    assert "The demo app received an authorization code" in callback.text
    assert absent.status_code == 404
    assert no_callback.status_code == 404


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)
