"""The closed lists staff choose from when they log an interaction, and their words in
every shipped language.

The lists are short on purpose (a log takes a few taps at the counter) and closed (so
reports can count them): the customer's primary emotion, what staff did, and how the
customer responded. ``channel`` here is where the interaction happened, not how a survey
was served.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "ACTIONS",
    "CHANNELS",
    "EMOTIONS",
    "LABELS",
    "REACTIONS",
    "UPSET",
    "Action",
    "Emotion",
    "InteractionChannel",
    "Reaction",
    "labels",
]

Emotion = Literal["frustrated", "confused", "anxious", "angry", "sad", "neutral", "happy"]
Action = Literal[
    "listened",
    "acknowledged_feelings",
    "apologised",
    "explained",
    "solved",
    "escalated",
    "followed_up",
    "offered_something",
]
Reaction = Literal["calmer", "satisfied", "still_upset", "left"]
InteractionChannel = Literal["in_person", "phone", "email", "chat", "social", "other"]

EMOTIONS: tuple[Emotion, ...] = get_args(Emotion)
ACTIONS: tuple[Action, ...] = get_args(Action)
REACTIONS: tuple[Reaction, ...] = get_args(Reaction)
CHANNELS: tuple[InteractionChannel, ...] = get_args(InteractionChannel)

UPSET: frozenset[Emotion] = frozenset({"frustrated", "angry"})
"""The emotions that ask most of staff's empathy (the reports single them out)."""
GOOD_ENDINGS: frozenset[Reaction] = frozenset({"calmer", "satisfied"})

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "frustrated": "Frustrated",
        "confused": "Confused",
        "anxious": "Anxious",
        "angry": "Angry",
        "sad": "Sad",
        "neutral": "Neutral",
        "happy": "Happy",
        "listened": "Listened",
        "acknowledged_feelings": "Acknowledged feelings",
        "apologised": "Apologised",
        "explained": "Explained",
        "solved": "Solved it",
        "escalated": "Escalated",
        "followed_up": "Followed up",
        "offered_something": "Offered something",
        "calmer": "Calmer",
        "satisfied": "Satisfied",
        "still_upset": "Still upset",
        "left": "Left",
        "in_person": "In person",
        "phone": "Phone",
        "email": "Email",
        "chat": "Chat",
        "social": "Social media",
        "other": "Other",
        "title": "Log an interaction",
        "emotion": "How did the customer feel at first?",
        "actions": "What did you do?",
        "reaction": "How did the customer respond?",
        "channel": "Where",
        "touchpoint": "Touchpoint",
        "agent": "Your name or code",
        "duration": "How long (minutes)",
        "note": "Note",
        "reference": "Customer or order reference",
        "save": "Save",
        "saved": "Saved. Thank you.",
        "errors": "Please check the fields marked below.",
        "choose_one": "Please choose one.",
        "optional": "optional",
        "account": "Or sign in with your staff account",
        "password": "Password",
        "sign_in": "Sign in",
        "wrong_account": "Wrong email or password.",
        "too_many": "Too many tries. Wait a few minutes.",
    },
    "es": {
        "frustrated": "Frustrado",
        "confused": "Confundido",
        "anxious": "Ansioso",
        "angry": "Enfadado",
        "sad": "Triste",
        "neutral": "Neutral",
        "happy": "Contento",
        "listened": "Escuché",
        "acknowledged_feelings": "Reconocí sus sentimientos",
        "apologised": "Pedí disculpas",
        "explained": "Expliqué",
        "solved": "Lo resolví",
        "escalated": "Lo escalé",
        "followed_up": "Hice seguimiento",
        "offered_something": "Ofrecí algo",
        "calmer": "Más tranquilo",
        "satisfied": "Satisfecho",
        "still_upset": "Sigue molesto",
        "left": "Se fue",
        "in_person": "En persona",
        "phone": "Teléfono",
        "email": "Correo",
        "chat": "Chat",
        "social": "Redes sociales",
        "other": "Otro",
        "title": "Registrar una interacción",
        "emotion": "¿Cómo se sentía el cliente al principio?",
        "actions": "¿Qué hiciste?",
        "reaction": "¿Cómo respondió el cliente?",
        "channel": "Dónde",
        "touchpoint": "Punto de contacto",
        "agent": "Tu nombre o código",
        "duration": "Duración (minutos)",
        "note": "Nota",
        "reference": "Referencia de cliente o pedido",
        "save": "Guardar",
        "saved": "Guardado. Gracias.",
        "errors": "Revisa los campos marcados abajo.",
        "choose_one": "Elige una opción.",
        "optional": "opcional",
        "account": "O entra con tu cuenta de personal",
        "password": "Contraseña",
        "sign_in": "Entrar",
        "wrong_account": "Correo o contraseña incorrectos.",
        "too_many": "Demasiados intentos. Espera unos minutos.",
    },
}


def labels(language: str) -> dict[str, str]:
    """The words of the staff log in ``language`` (English when it has none)."""
    return LABELS.get(language, LABELS["en"])
