"""Which organization and which people a message concerns, and what it says.

Pure functions over a `Directory`, a snapshot of the tracked people and
domains taken from the store once per sync.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pursuit.connectors.base import Address, MailMessage
from pursuit.daemon.addresses import ascii_address, ascii_domain
from pursuit.daemon.models import Contact, Direction
from pursuit.daemon.store import Store

log = logging.getLogger(__name__)

# Personal mail providers: a domain here never identifies an organization.
FREE_MAIL = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "web.de",
        "mail.com",
        "yandex.com",
        "yandex.ru",
        "zoho.com",
        "fastmail.com",
        "hey.com",
        "tutanota.com",
        "qq.com",
        "163.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
    ]
)

# Hiring systems write on an organization's behalf; the organization is in the
# sender's name or the subject, never in the domain. A domain here covers its
# subdomains. Where each sends from, as seen in real mail (the sources are in
# tests/fixtures/hiring_mail/README.md):
HIRING_SYSTEMS = frozenset(
    [
        "greenhouse.io",  # no-reply@greenhouse.io
        "greenhouse-mail.io",  # no-reply@us.greenhouse-mail.io
        "lever.co",  # no-reply@hire.lever.co, hire.eu.lever.co
        "hire.lever.co",
        "myworkday.com",  # <tenant>@myworkday.com
        "workday.com",
        "myworkdayjobs.com",
        "ashbyhq.com",  # no-reply@ashbyhq.com
        "ashby.io",
        "smartrecruiters.com",  # noreply@, notification@, notifications@
        "smartrecruiters-mail.com",
        "icims.com",  # <tenant>+email+<id>@talent.icims.com
        "teamtailor-mail.com",  # <person>@<tenant>.teamtailor-mail.com
        "teamtailor.com",
        "personio.de",  # <tenant>-jobs@m.personio.de
        "personio.com",
        "workablemail.com",  # noreply@candidates.workablemail.com
        "workable.com",
        "bamboohr.com",  # notifications@app.bamboohr.com
        "applytojob.com",  # JazzHR: noreply@, recruiting+<id>@applytojob.com
        "recruitee.com",  # no-reply@mail.recruitee.com, <person>@<tenant>.recruitee.com
        "successfactors.com",  # SAP SuccessFactors: system@successfactors.com
        "successfactors.eu",
        "taleo.net",  # Oracle Taleo
        "jobvite.com",
        "ats.rippling.com",  # no-reply@ats.rippling.com (not rippling.com: payroll)
        "linkedin.com",
    ]
)
# Some write from an address that names the employer's account with them, its
# tenant: in the local part (acme@myworkday.com, acme+email+7f3@talent.icims.com,
# acme-jobs@m.personio.de) or as a subdomain (jane@acme.teamtailor-mail.com,
# jane@acme.recruitee.com). "Workday <acme@myworkday.com>" writing "Thank you for your
# application" names its organization nowhere else.
TENANT_IN_LOCAL_PART = ("myworkday.com", "icims.com", "personio.de", "personio.com")
TENANT_IN_SUBDOMAIN = ("teamtailor-mail.com", "recruitee.com")


def _any_of(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.I)


#: A rejection says the decision itself, as real ones word it (the sources are in
#: tests/fixtures/hiring_mail/README.md): "we're moving forward with your application",
#: "unfortunately, we have to move your interview" or "la oferta de empleo" are none.
REJECTION = _any_of(
    # English
    r"\b(?:move|moving|go|going|proceed|proceeding|continue|continuing)\s+(?:forward\s+)?"
    r"with\s+(?:other|another|a\s+different|more\s+qualified)\s+(?:candidate|applicant|profile)",
    r"\b(?:pursue|pursuing|selected|chose|chosen|hired|offered\s+the\s+(?:position|role|job)\s+to"
    r"|offer\s+the\s+(?:position|role|job)\s+to|extend(?:ed)?\s+(?:an\s+)?offer\s+to)"
    r"\s+(?:another|other|a\s+different)\s+(?:candidate|applicant)",
    r"(?:\bnot|n't|\bunable\s+to|\bno\s+longer)\s+(?:(?:be|to|able\s+to)\s+)*"
    r"(?:move|moving|proceed|proceeding|progress|progressing|advance|advancing|pursue|pursuing)"
    r"\s+(?:forward|further|ahead|with\s+(?:your|you\b)|your\s+(?:application|candidacy))",
    r"\bregret\s+to\s+(?:inform|tell|let\s+you\s+know)\b",
    r"\b(?:position|role|job|vacancy|opening)\s+(?:has|have)\s+(?:now\s+|already\s+)?been\s+filled",
    r"\bfilled\s+the\s+(?:position|role)\b",
    r"\b(?:you|you've|application|candidacy|profile)\s+(?:(?:was|were|has|have|had|is|are)\s*)?"
    r"(?:not|n't)\s+(?:been\s+)?(?:selected|shortlisted|successful)\b",
    r"\b(?:application|candidacy)\s+(?:has\s+been|was|is)\s+unsuccessful\b",
    r"\b(?:go|going|went)\s+(?:in\s+)?(?:a\s+|another\s+)?different\s+direction\b",
    r"\b(?:experience|skills|profile|background|qualifications)\s+(?:\S+\s+){0,3}?"
    r"(?:do|does|did)(?:\s+not|n't)\s+(?:quite\s+)?(?:match|meet|align\s+with)\b",
    r"\b(?:you|application|candidacy)\s+(?:\S+\s+){0,2}?no\s+longer\s+(?:be(?:ing)?\s+)?"
    r"(?:considered|under\s+consideration)\b",
    r"\bnot\s+(?:a|the)\s+(?:right\s+|good\s+|strong\s+)?(?:fit|match)\s+(?:for\s+(?:this|the)|at\s+this)",
    # French
    r"\b(?:ne|n')\s*(?:\S+\s+){0,3}?(?:pas|plus)\s+(?:\S+\s+){0,2}?donner\s+(?:une\s+)?suite\b",
    r"\b(?:candidature|profil|dossier)\s+(?:\S+\s+){0,2}?n'(?:a|ont|est)\s+pas\s+(?:été\s+)?retenue?",
    r"\b(?:ne|n')\s*(?:\S+\s+){0,3}?pas\s+(?:pu\s+)?reten(?:ir|u)\s+(?:votre|ta)\s+"
    r"(?:candidature|profil|dossier)",
    r"\b(?:le|au)\s+regret\s+de\s+vous\b",
    r"\bregrett\w*\s+de\s+vous\s+(?:informer|annoncer|faire\s+part)\b",
    r"\b(?:retenu|choisi|sélectionné|privilégié|poursuivre|continuer|avancer)\s+(?:\S+\s+){0,4}?"
    r"(?:d'autres|un\s+autre|une\s+autre)\s+(?:candidat|profil)",
    r"\b(?:poste|offre)\s+(?:a\s+(?:déjà\s+)?été|est\s+(?:désormais|déjà))\s+pourvue?\b",
    # German
    r"\b(?:Bewerbung|Kandidatur|Unterlagen|Sie|dich)\s+(?:\S+\s+){0,5}?nicht\s+(?:\S+\s+){0,2}?"
    r"(?:berücksichtig|weiterverfolg|weiter\s+verfolg|in\s+Betracht)",
    r"\bfür\s+(?:(?:eine|einen)\s+)?(?:andere[nr]?\s+)?(?:Bewerb|Kandidat)\w*\s+(?:\S+\s+){0,2}?"
    r"entschieden\b",
    r"\banderen\s+(?:Bewerb|Kandidat)\w*\s+den\s+Vorzug\b",
    r"\b(?:wurde|ist|sind|wurden)\s+(?:\S+\s+){0,2}?(?:bereits|inzwischen|anderweitig)\s+"
    r"(?:besetzt|vergeben)\b",
    r"\bBewerbungsprozess\s+(?:\S+\s+){0,4}?beenden\b",
    r"\bnicht\s+in\s+die\s+engere\s+(?:Wahl|Auswahl)\b",
    # Spanish
    r"\bno\s+(?:\S+\s+){0,2}?(?:continuar|seguir|avanzar)\s+(?:adelante\s+)?con\s+(?:tu|su)\s+"
    r"(?:candidatura|solicitud|postulación|proceso)",
    r"\b(?:seguir|continuar|avanzar)\s+(?:adelante\s+)?con\s+otr[oa]s\s+(?:candidat|perfil|postulant)",
    r"\blamentamos\s+(?:tener\s+que\s+)?(?:informar|comunicar)",
    r"\bno\s+(?:ha|has|han|hemos)\s+sido\s+seleccionad[oa]s?\b",
    r"\b(?:puesto|vacante|posición)\s+(?:ya\s+)?(?:ha\s+sido|fue)\s+cubiert[oa]\b",
)
#: An offer of the job, not of an interview: "pleased to offer you an interview",
#: "le plaisir de vous proposer un entretien" or "Stellenangebot" are none.
OFFER = _any_of(
    # English
    r"\boffer\s+letter\b",
    r"\boffer\s+of\s+employment\b",
    r"\b(?:employment|formal|written|verbal)\s+offer\b",
    r"\byour\s+offer\s+(?:from|letter|details|package)\b",
    r"\b(?:extend|extending|make|making|send|sending|present|presenting)\s+(?:you\s+)?"
    r"(?:a|an|our|the)\s+(?:(?:formal|written|verbal|official|conditional|final)\s+)?offer\b"
    r"(?!\s+to\s+(?:an)?other)",
    r"\boffer\s+you\s+(?:the|a|this)\s+"
    r"(?:(?!interview|call|chat|meeting|conversation|slot|time)\S+\s+){0,5}?"
    r"(?:position|role|job|post)\b",
    r"\b(?:pleased|delighted|happy|thrilled|excited)\s+to\s+(?:extend|offer)\s+(?:you\s+)?"
    r"(?:(?:the|a|an|our)\s+)?(?:(?:formal|written|official)\s+)?(?:offer|position|role|job)\b",
    # French
    r"\b(?:proposition|promesse|offre)\s+d'embauche\b",
    r"\b(?:plaisir|heureux|heureuse|ravie?s?)\s+de\s+vous\s+(?:proposer|offrir)\s+(?:le|ce|un)\s+"
    r"poste\b",
    # German
    r"\bVertragsangebot",
    r"\b(?:Stelle|Position)\s+(?:\S+\s+){0,6}?anbieten\s+zu\s+können\b",
    r"\bAngebot\s+(?:zu\s+)?(?:unterbreiten|machen)\b",
    # Spanish
    r"\b(?:complace|alegra|gusta|encanta)\s+(?:\S+\s+){0,2}?ofrecer(?:te|le)?\s+(?:el|la|un|una)\s+"
    r"(?:puesto|posición|cargo|plaza|empleo)\b",
    r"\bcarta\s+(?:de\s+)?oferta\b",
    r"\bpropuesta\s+(?:formal\s+)?de\s+contrataci[oó]n\b",
)
#: A clause that only supposes says nothing of this application: "if we decide not to
#: move forward, we'll let you know", "should you not be selected", "si votre
#: candidature n'est pas retenue", "falls wir ...", "si no has sido seleccionado". The
#: text is read without them, each up to its next comma or full stop.
CONDITIONAL = re.compile(
    r"\b(?:if|should|unless|whether|in\s+case|in\s+the\s+event|si|s'il|au\s+cas\s+où"
    r"|dans\s+le\s+cas\s+où|falls|sollte[nst]?|wenn|sofern|en\s+caso\s+de)\b[^.,;:!?\n]*",
    re.I,
)


def normalize(address: str) -> str:
    """Case-insensitive, the domain in its ASCII form (mail may carry bücher.de as
    xn--bcher-kva.de, or the reverse); for Gmail addresses, dots and +tags do not matter."""
    local, _, domain = ascii_address(address).rpartition("@")
    if domain in ("gmail.com", "googlemail.com"):
        local = local.split("+", 1)[0].replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"


def domain_of(address: str) -> str:
    """The address's domain in its ASCII form, as `Directory.domains` keys it."""
    return comparable_domain(address.rpartition("@")[2])


def comparable_domain(domain: str) -> str:
    """One form of a domain for comparing: lower-cased, ASCII (punycode) when it is one."""
    try:
        return ascii_domain(domain)
    except ValueError:
        return domain.strip().lower()


def is_bulk(message: MailMessage) -> bool:
    """Mailing lists, newsletters and robots: never turned into contacts."""
    if message.header("list-unsubscribe") or message.header("list-id"):
        return True
    if (message.header("precedence") or "").strip().lower() in ("bulk", "list", "junk"):
        return True
    auto = (message.header("auto-submitted") or "no").strip().lower()
    return auto != "no"


def verdict(message: MailMessage) -> str | None:
    """'rejection', 'offer' or None, read from the subject and the start of the text
    (a rejection first: "we have extended an offer to another candidate" is one)."""
    text = f"{message.subject}\n{message.snippet}".replace("\u2019", "'")
    text = CONDITIONAL.sub(" ", text)
    if REJECTION.search(text):
        return "rejection"
    if OFFER.search(text):
        return "offer"
    return None


@dataclass(frozen=True)
class Directory:
    """Who and what pursuit tracks, for matching."""

    contacts: dict[str, tuple[int, int | None]]  # normalized address -> (contact, first org)
    domains: dict[str, int]  # domain (its ASCII form) -> organization
    org_names: dict[int, str]
    user_addresses: frozenset[str] = field(default_factory=frozenset)
    memberships: dict[int, tuple[int, ...]] = field(default_factory=dict)  # contact -> orgs
    latest: dict[int, int] = field(default_factory=dict)  # contact -> org of latest activity

    @classmethod
    def from_store(cls, store: Store, user_addresses: Iterable[str] = ()) -> Directory:
        contacts = {
            normalize(address): (contact.id, contact.organization_id)
            for contact in store.contacts()
            for address in contact.addresses
        }
        domains = {comparable_domain(d): org for d, org in store.domains().items()}
        names = {org.id: org.name for org in store.organizations()}
        memberships = {c.id: c.organization_ids for c in store.contacts() if c.organization_ids}
        return cls(
            contacts,
            domains,
            names,
            frozenset(normalize(a) for a in user_addresses),
            memberships,
            store.latest_activity(),
        )

    def add_contact(self, contact: Contact) -> None:
        """Know a contact just created, without reading the whole store again."""
        for address in contact.addresses:
            self.contacts[normalize(address)] = (contact.id, contact.organization_id)
        self.memberships[contact.id] = contact.organization_ids

    def organization_of(self, contact_id: int, text: str = "") -> tuple[int | None, str]:
        """Which of a person's organizations a message or event with them is about, and why.

        One organization: that one. Several: the one named in TEXT (a subject, an
        event's title), else the one of their latest interview or message.
        """
        orgs = self.memberships.get(contact_id, ())
        if not orgs:
            return None, "no organization"
        if len(orgs) == 1:
            return orgs[0], "their organization"
        named = organization_named({o: self.org_names.get(o, "") for o in orgs}, text)
        if named is not None:
            return named, "named in the subject"
        if contact_id in self.latest and self.latest[contact_id] in orgs:
            return self.latest[contact_id], "their latest interview or message"
        return orgs[0], "the first organization they belonged to"

    def organization_for_domain(self, domain: str) -> int | None:
        if domain in FREE_MAIL:
            return None
        parts = domain.split(".")
        for start in range(len(parts) - 1):
            found = self.domains.get(".".join(parts[start:]))
            if found is not None:
                return found
        return None

    def organization_of_tenant(self, tenant: str | None) -> int | None:
        """The one organization a hiring system's tenant is named after, by its name or
        the first label of one of its domains; None when none or several are."""
        if tenant is None or len(squeezed(tenant)) < 2:
            return None
        key = squeezed(tenant)
        found = {org for org, name in self.org_names.items() if squeezed(name) == key}
        found |= {org for d, org in self.domains.items() if squeezed(d.split(".")[0]) == key}
        return found.pop() if len(found) == 1 else None

    def organization_named_in(self, text: str) -> int | None:
        return organization_named(self.org_names, text)


def organization_named(names: dict[int, str], text: str) -> int | None:
    """The organization (of these, by id) whose name TEXT holds as words, the longest
    name first ("Acme Networks Europe" before "Acme Networks")."""
    folded = text.casefold()
    for org_id, name in sorted(names.items(), key=lambda kv: -len(kv[1])):
        if name and re.search(rf"(?<!\w){re.escape(name.casefold())}(?!\w)", folded):
            return org_id
    return None


@dataclass(frozen=True)
class Match:
    organization_id: int | None
    contact_ids: tuple[int, ...]
    new_contacts: tuple[Address, ...]  # people at a tracked domain not yet known
    direction: Direction
    people: tuple[str, ...]
    reason: str = ""  # why this organization: "domain", "named in the subject", ...


def counterparts(message: MailMessage, directory: Directory) -> list[Address]:
    """The people on the other side of the exchange."""
    if message.outgoing:
        people: Sequence[Address] = (*message.to, *message.cc)
    else:
        # the other recipients too: an introduction is often "To: you, Jane"
        people = (
            *(x for x in [message.sender] if x),
            *message.reply_to,
            *message.to,
            *message.cc,
        )
    seen: set[str] = set()
    result = []
    for person in people:
        key = normalize(person.email)
        if key in directory.user_addresses or key in seen or "@" not in key:
            continue
        seen.add(key)
        result.append(person)
    return result


def match(message: MailMessage, directory: Directory) -> Match | None:
    """The organization and contacts a message concerns, or None to ignore it."""
    people = counterparts(message, directory)
    contact_ids: list[int] = []
    new: list[Address] = []
    bulk = is_bulk(message)
    # An organization's domain says which organization a message is about; a person
    # at a personal or agency address says it only through their organizations.
    by_domain: int | None = None
    by_person: tuple[int | None, str] = (None, "")
    for person in people:
        domain_org = directory.organization_for_domain(domain_of(person.email))
        by_domain = by_domain or domain_org
        known = directory.contacts.get(normalize(person.email))
        if known is not None:
            contact_ids.append(known[0])
            if by_person[0] is None:
                by_person = directory.organization_of(known[0], message.subject)
            continue
        if domain_org is not None and not bulk:
            new.append(person)
    org_id, reason = (by_domain, "domain") if by_domain is not None else by_person
    if org_id is None and not contact_ids:
        sender = message.sender
        if sender and _hiring_system(domain_of(sender.email)):
            org_id = directory.organization_named_in(f"{sender.name}\n{message.subject}")
            reason = "hiring system"
            if org_id is None:
                org_id = directory.organization_of_tenant(tenant(sender.email))
                reason = "hiring system's account of the organization"
        if org_id is None:
            return None
    if reason not in ("domain", "their organization"):
        log.info(
            "%s: filed under %s (%s)",
            message.message_id,
            directory.org_names.get(org_id or -1, "no organization"),
            reason,
        )
    return Match(
        organization_id=org_id,
        contact_ids=tuple(contact_ids),
        new_contacts=tuple(new),
        direction=Direction.OUT if message.outgoing else Direction.IN,
        people=tuple(p.email for p in people),
        reason=reason,
    )


def _hiring_system(domain: str) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in HIRING_SYSTEMS)


def tenant(address: str) -> str | None:
    """The employer's account that a hiring system's address names, if it names one:
    acme@myworkday.com, acme+email+7f3@talent.icims.com, acme-jobs@m.personio.de and
    jane@acme.teamtailor-mail.com are all "acme"."""
    local, _, domain = address.lower().rpartition("@")
    if any(domain == d or domain.endswith("." + d) for d in TENANT_IN_LOCAL_PART):
        name = re.sub(r"[-_.]jobs$", "", local.split("+", 1)[0])
        return None if name in GENERIC_SENDERS else name
    for system in TENANT_IN_SUBDOMAIN:
        if domain.endswith("." + system):
            name = domain.removesuffix("." + system).rpartition(".")[2]
            return None if name in GENERIC_SENDERS else name
    return None


#: Local parts and subdomains a hiring system uses for itself, never a tenant.
GENERIC_SENDERS = frozenset(
    (  # noqa: SIM905
        "no-reply noreply donotreply do-not-reply notification notifications system mail "
        "email talent app hire jobs careers candidates info support www m"
    ).split()
)


def squeezed(name: str) -> str:
    """A name as an address would spell it: letters and digits only, lower-cased,
    without accents ("Umbrella Health" and umbrella-health are "umbrellahealth")."""
    plain = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in plain if c.isalnum() and c.isascii())


def tenant_names(name: str, domains: Iterable[str]) -> list[str]:
    """What a hiring system's tenant for this organization is likely called: its name
    and the first label of each of its domains, squeezed ("acmenetworks", "acme")."""
    found = [squeezed(name), *(squeezed(d.split(".")[0]) for d in domains)]
    return [n for n in dict.fromkeys(found) if len(n) >= 2]


def hiring_search_terms(name: str, domains: Iterable[str]) -> list[str]:
    """What a search for an organization's hiring-system mail looks for in the subject
    and sender: its name, and the tenant names an address may carry instead."""
    return [name, *(t for t in tenant_names(name, domains) if t != name.casefold())]
