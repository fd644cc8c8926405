"""The service's own words (page buttons, errors, notices, email phrases) in every
language it ships: one catalogue for pages and emails.

Survey texts come from the definitions; these are the fixed words around them. Every
shipped language has every key (``tests/unit/test_i18n.py``); a survey language without an
entry here gets English words around its own texts.
"""

from __future__ import annotations

import functools
import re

__all__ = [
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "accepted_languages",
    "browser_language",
    "ui_text",
]

LANGUAGE_NAMES = {"en": "English", "es": "Español"}

_UI: dict[str, dict[str, str]] = {
    "en": {
        "send": "Send",
        "yes": "Yes",
        "no": "No",
        "optional": "optional",
        "language": "Language",
        "errors": "Please check the answers marked below.",
        "required": "Please answer this question.",
        "range": "Please choose one of the options.",
        "type": "Please choose one of the options.",
        "too_long": "Please keep your answer to {limit} characters.",
        "unknown": "This answer does not belong to the form.",
        "up_to": "Up to {limit} characters.",
        "thanks_title": "Thank you!",
        "thanks": "Your answers were received.",
        "expired_title": "This form has expired",
        "expired": "Forms stay open for a few days after they are sent. You can still answer on a fresh one.",
        "fresh": "Open a fresh form",
        "invalid_title": "This link does not work",
        "invalid": "The link is damaged or was not made by us. You can answer on a fresh form.",
        "not_found_title": "Survey not found",
        "not_found": "There is no survey at this address.",
        "busy_title": "Too many answers right now",
        "busy": "Please wait a minute and send your answers again.",
        "refused_title": "This page could not be sent",
        "refused": "Please reload the form and try again.",
        "too_big_title": "That was too long",
        "too_big": "Please shorten your answers and send them again.",
        "broken_title": "Something went wrong",
        "broken": "This is our fault, not yours. Please try again in a moment.",
        "unavailable_title": "We are back in a moment",
        "unavailable": "The service is briefly unavailable. Please send your answers again in a few seconds.",
        "scan": "Scan with your phone's camera: three quick questions, under a minute.",
        "used_title": "This code was already used",
        "used": "Thank you! This code has been answered already; each one counts once.",
        "pin": "Staff PIN",
        "unlock": "Unlock",
        "kiosk_off_title": "Kiosk mode is off",
        "kiosk_off": "Set SURVEY_KIOSK_PIN to use a tablet or screen at the counter.",
        "wrong_pin_title": "Wrong PIN",
        "wrong_pin": "Please try again.",
        "answer_here": "Or answer here on this screen",
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_ask": "Stop receiving survey invitations at this address?",
        "unsubscribe_button": "Unsubscribe",
        "unsubscribed_title": "You are unsubscribed",
        "unsubscribed": "We will not send survey invitations to this address again.",
        "email_hello": "Hello",
        "email_ask": "We'd love to hear how it went.",
        "email_cta": "Answer the survey",
        "email_leave": "Unsubscribe",
        "email_reminder": "Reminder: ",
    },
    "es": {
        "send": "Enviar",
        "yes": "Sí",
        "no": "No",
        "optional": "opcional",
        "language": "Idioma",
        "errors": "Revise las respuestas marcadas abajo.",
        "required": "Por favor, responda a esta pregunta.",
        "range": "Por favor, elija una de las opciones.",
        "type": "Por favor, elija una de las opciones.",
        "too_long": "Por favor, use como máximo {limit} caracteres.",
        "unknown": "Esta respuesta no pertenece al formulario.",
        "up_to": "Hasta {limit} caracteres.",
        "thanks_title": "¡Gracias!",
        "thanks": "Hemos recibido sus respuestas.",
        "expired_title": "Este formulario ha caducado",
        "expired": "Los formularios siguen abiertos unos días después de enviarse. Aún puede responder en uno nuevo.",
        "fresh": "Abrir un formulario nuevo",
        "invalid_title": "Este enlace no funciona",
        "invalid": "El enlace está dañado o no lo creamos nosotros. Puede responder en un formulario nuevo.",
        "not_found_title": "Encuesta no encontrada",
        "not_found": "No hay ninguna encuesta en esta dirección.",
        "busy_title": "Demasiadas respuestas en este momento",
        "busy": "Espere un minuto y vuelva a enviar sus respuestas.",
        "refused_title": "No se pudo enviar esta página",
        "refused": "Vuelva a cargar el formulario e inténtelo de nuevo.",
        "too_big_title": "Demasiado largo",
        "too_big": "Acorte sus respuestas y vuelva a enviarlas.",
        "broken_title": "Algo salió mal",
        "broken": "El error es nuestro, no suyo. Vuelva a intentarlo en un momento.",
        "unavailable_title": "Volvemos en un momento",
        "unavailable": "El servicio no está disponible un instante. Vuelva a enviar sus respuestas en unos segundos.",
        "scan": "Escanee con la cámara del móvil: unas preguntas rápidas, menos de un minuto.",
        "used_title": "Este código ya se utilizó",
        "used": "¡Gracias! Este código ya se respondió; cada uno cuenta una vez.",
        "pin": "PIN del personal",
        "unlock": "Desbloquear",
        "kiosk_off_title": "El modo quiosco está desactivado",
        "kiosk_off": "Defina SURVEY_KIOSK_PIN para usar una tableta o pantalla en el mostrador.",
        "wrong_pin_title": "PIN incorrecto",
        "wrong_pin": "Inténtelo de nuevo.",
        "answer_here": "O responda aquí en esta pantalla",
        "unsubscribe_title": "Darse de baja",
        "unsubscribe_ask": "¿Dejar de recibir invitaciones a encuestas en esta dirección?",
        "unsubscribe_button": "Darse de baja",
        "unsubscribed_title": "Se ha dado de baja",
        "unsubscribed": "No volveremos a enviar invitaciones a encuestas a esta dirección.",
        "email_hello": "Hola",
        "email_ask": "Nos encantaría saber qué tal fue.",
        "email_cta": "Responder la encuesta",
        "email_leave": "Darse de baja",
        "email_reminder": "Recordatorio: ",
    },
}


LANGUAGES = tuple(_UI)
"""Languages with their own words."""


def ui_text(language: str) -> dict[str, str]:
    """The page words for ``language`` (English when there are none for it)."""
    return _UI.get(language, _UI["en"])


@functools.lru_cache(maxsize=256)  # browsers send a few spellings, each thousands of times
def accepted_languages(header: str | None) -> tuple[str, ...]:
    """Two-letter languages from an Accept-Language header, most preferred first."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")[:20]):
        lang, _, params = part.strip().partition(";")
        quality = 1.0
        match = re.search(r"q=([0-9.]+)", params)
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                continue
        if lang and quality > 0:
            weighted.append((-quality, position, lang[:2].lower()))
    return tuple(lang for _, _, lang in sorted(weighted))


def browser_language(accept: str | None) -> str:
    """The best of the service's own languages for a browser (pages outside any survey)."""
    return next((tag for tag in accepted_languages(accept) if tag in _UI), "en")
