"""What the portal says to a customer, in plain words (no internal states), in the languages
the bundled message templates have (English, German, French): the customer reads the page in
the language their messages come in. Any other language gets English, as the messages do."""

from __future__ import annotations

from hub.content.locales import language_of

#: The default language, and the one a language without its own words falls back to.
DEFAULT_LANGUAGE = "en"

#: The page's own words by language (``{name}``, ``{reference}``... are filled in).
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "hi": "Hi {name},", "hello": "Hello,", "return": "Return {reference}",
        "order": "Order {number}", "status": "Status", "tracking": "tracking",
        "track": "Track your parcel", "label": "Print your return label",
        "progress": "Progress", "live": "This page updates by itself.",
        "messages": "Messages", "new": "new", "offers": "Offers from {store}",
        "offers_either_way": "Messages about this return reach you either way.",
        "offers_email": "Send me offers by email",
        "offers_sms": "Send me offers by text message", "save": "Save my choices",
        "questions": "Questions?", "refunded": "Refunded", "refunded_amount": "Refunded: {amount}",
        "exchanged": "Exchanged (no refund)",
        "expected_refund": "Expected refund: {amount}, once we've checked your items",
    },
    "de": {
        "hi": "Hallo {name},", "hello": "Hallo,", "return": "Rücksendung {reference}",
        "order": "Bestellung {number}", "status": "Status", "tracking": "Sendungsnummer",
        "track": "Sendung verfolgen", "label": "Rücksendeetikett drucken",
        "progress": "Verlauf", "live": "Diese Seite aktualisiert sich von selbst.",
        "messages": "Nachrichten", "new": "neu", "offers": "Angebote von {store}",
        "offers_either_way": "Nachrichten zu dieser Rücksendung erhalten Sie in jedem Fall.",
        "offers_email": "Angebote per E-Mail erhalten",
        "offers_sms": "Angebote per SMS erhalten", "save": "Auswahl speichern",
        "questions": "Fragen?", "refunded": "Erstattet", "refunded_amount": "Erstattet: {amount}",
        "exchanged": "Umgetauscht (keine Erstattung)",
        "expected_refund": "Voraussichtliche Erstattung: {amount}, sobald wir Ihre Artikel "
                           "geprüft haben",
    },
    "fr": {
        "hi": "Bonjour {name},", "hello": "Bonjour,", "return": "Retour {reference}",
        "order": "Commande {number}", "status": "Statut", "tracking": "suivi",
        "track": "Suivre votre colis", "label": "Imprimer votre étiquette de retour",
        "progress": "Étapes", "live": "Cette page se met à jour toute seule.",
        "messages": "Messages", "new": "nouveau", "offers": "Offres de {store}",
        "offers_either_way": "Les messages sur ce retour vous parviennent dans tous les cas.",
        "offers_email": "Recevoir des offres par e-mail",
        "offers_sms": "Recevoir des offres par SMS", "save": "Enregistrer mes choix",
        "questions": "Des questions ?", "refunded": "Remboursé",
        "refunded_amount": "Remboursé : {amount}",
        "exchanged": "Échangé (sans remboursement)",
        "expected_refund": "Remboursement prévu : {amount}, une fois vos articles vérifiés",
    },
}

#: state → (title, explanation) shown on the portal timeline, by language.
STAGE_WORDING: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "requested": ("Return requested", "We have your return request."),
        "pending_review": ("Under review", "We're checking your request and will get back to "
                           "you shortly."),
        "approved": ("Return approved", "Your return is approved. Pack your items for sending."),
        "declined": ("Return declined", "We couldn't accept this return. Check your email for "
                     "the details, or contact us."),
        "label_created": ("Label ready", "Your return label is ready. Attach it to your parcel."),
        "in_transit": ("On its way", "Your parcel is on its way back to us."),
        "delivered_to_warehouse": ("Arrived at our warehouse", "Your parcel has arrived at our "
                                   "warehouse."),
        "received": ("Received", "We've received your return and will check it soon."),
        "inspected": ("Checked", "We've checked your items."),
        "restocked": ("Checked", "We've checked your items."),
        "refunded": ("Refunded", "Your refund is on its way."),
        "exchange_shipped": ("Exchange sent", "Your replacement is on its way to you."),
        "closed": ("Completed", "Your return is complete."),
        "cancelled": ("Cancelled", "This return was cancelled."),
        "expired": ("Expired", "This return request has expired."),
        "": ("Update", "There's an update to your return."),
        "exception": ("Delivery update", "The carrier reported a problem with your parcel. "
                      "We're looking into it; no action is needed from you yet."),
    },
    "de": {
        "requested": ("Rücksendung angefragt", "Wir haben Ihre Rücksendeanfrage erhalten."),
        "pending_review": ("In Prüfung", "Wir prüfen Ihre Anfrage und melden uns in Kürze."),
        "approved": ("Rücksendung genehmigt", "Ihre Rücksendung ist genehmigt. Verpacken Sie "
                     "Ihre Artikel für den Versand."),
        "declined": ("Rücksendung abgelehnt", "Wir konnten diese Rücksendung nicht annehmen. "
                     "Die Einzelheiten stehen in Ihrer E-Mail, oder kontaktieren Sie uns."),
        "label_created": ("Etikett bereit", "Ihr Rücksendeetikett ist bereit. Kleben Sie es "
                          "auf Ihr Paket."),
        "in_transit": ("Unterwegs", "Ihr Paket ist auf dem Weg zu uns."),
        "delivered_to_warehouse": ("Im Lager angekommen", "Ihr Paket ist in unserem Lager "
                                   "angekommen."),
        "received": ("Erhalten", "Wir haben Ihre Rücksendung erhalten und prüfen sie bald."),
        "inspected": ("Geprüft", "Wir haben Ihre Artikel geprüft."),
        "restocked": ("Geprüft", "Wir haben Ihre Artikel geprüft."),
        "refunded": ("Erstattet", "Ihre Erstattung ist unterwegs."),
        "exchange_shipped": ("Umtausch versandt", "Ihr Ersatzartikel ist auf dem Weg zu Ihnen."),
        "closed": ("Abgeschlossen", "Ihre Rücksendung ist abgeschlossen."),
        "cancelled": ("Storniert", "Diese Rücksendung wurde storniert."),
        "expired": ("Abgelaufen", "Diese Rücksendeanfrage ist abgelaufen."),
        "": ("Neuigkeit", "Es gibt Neuigkeiten zu Ihrer Rücksendung."),
        "exception": ("Zustellhinweis", "Der Paketdienst hat ein Problem mit Ihrem Paket "
                      "gemeldet. Wir kümmern uns darum; Sie müssen noch nichts tun."),
    },
    "fr": {
        "requested": ("Retour demandé", "Nous avons bien reçu votre demande de retour."),
        "pending_review": ("En cours d'examen", "Nous examinons votre demande et revenons vers "
                           "vous rapidement."),
        "approved": ("Retour accepté", "Votre retour est accepté. Emballez vos articles pour "
                     "l'envoi."),
        "declined": ("Retour refusé", "Nous n'avons pas pu accepter ce retour. Consultez votre "
                     "e-mail pour les détails, ou contactez-nous."),
        "label_created": ("Étiquette prête", "Votre étiquette de retour est prête. Collez-la "
                          "sur votre colis."),
        "in_transit": ("En route", "Votre colis est en route vers nous."),
        "delivered_to_warehouse": ("Arrivé à l'entrepôt", "Votre colis est arrivé à notre "
                                   "entrepôt."),
        "received": ("Reçu", "Nous avons reçu votre retour et allons le vérifier."),
        "inspected": ("Vérifié", "Nous avons vérifié vos articles."),
        "restocked": ("Vérifié", "Nous avons vérifié vos articles."),
        "refunded": ("Remboursé", "Votre remboursement est en route."),
        "exchange_shipped": ("Échange expédié", "Votre article de remplacement est en route."),
        "closed": ("Terminé", "Votre retour est terminé."),
        "cancelled": ("Annulé", "Ce retour a été annulé."),
        "expired": ("Expiré", "Cette demande de retour a expiré."),
        "": ("Nouveauté", "Il y a du nouveau concernant votre retour."),
        "exception": ("Incident de livraison", "Le transporteur a signalé un problème avec "
                      "votre colis. Nous nous en occupons ; vous n'avez rien à faire pour "
                      "l'instant."),
    },
}

#: The timeline key of a carrier exception.
EXCEPTION = "exception"


def portal_language(locale: str | None) -> str:
    """The language the page speaks to a customer in ``locale`` (English when it has no words
    of its own in theirs)."""
    language = language_of(locale)
    return language if language in WORDS else DEFAULT_LANGUAGE


def words(language: str) -> dict[str, str]:
    """The page's own words in ``language`` (see :func:`portal_language`)."""
    return WORDS.get(language, WORDS[DEFAULT_LANGUAGE])


def stage_wording(state: str | None, language: str = DEFAULT_LANGUAGE) -> tuple[str, str]:
    """The title and explanation of ``state`` in ``language`` (a neutral text for unknown
    states; :data:`EXCEPTION` for a carrier exception)."""
    table = STAGE_WORDING.get(language, STAGE_WORDING[DEFAULT_LANGUAGE])
    return table.get(state or "", table[""])
