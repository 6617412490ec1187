"""What a handler reads from an `Update` that its registration guarantees: the message, the
sender, the chat.

PTB types every field of an `Update` as optional, since one update type carries each of
them. A command or message handler always has a message, a sender and a chat; these
helpers say so once, and raise (by ids, never the text) if a handler is ever registered
where that does not hold, as `update.effective_message.reply_text` would have.
"""

from __future__ import annotations

from telegram import MaybeInaccessibleMessage, Message, Update


def require_message(update: Update) -> Message:
    """The message a command or message handler was called for."""
    message = update.effective_message
    if message is None:
        raise LookupError(f"update {update.update_id} carries no message")
    return message


def require_user_id(update: Update) -> int:
    """The id of the person who sent the update."""
    user = update.effective_user
    if user is None:
        raise LookupError(f"update {update.update_id} has no sender")
    return user.id


def require_chat_id(update: Update) -> int:
    """The id of the chat the update came from."""
    chat = update.effective_chat
    if chat is None:
        raise LookupError(f"update {update.update_id} has no chat")
    return chat.id


def require_accessible(message: MaybeInaccessibleMessage | None) -> Message:
    """A button's message in full; Telegram sends only its chat and id when the message
    was deleted or is otherwise inaccessible to the bot."""
    if not isinstance(message, Message):
        raise LookupError("the button's message is no longer accessible")
    return message
