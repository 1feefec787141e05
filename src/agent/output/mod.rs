//! What the person sees and answers: the printer (reports, plans, settings as text), the
//! prompt the engine asks through, and the small word helpers they share.

pub(super) mod console;
pub(super) mod printer;
pub(super) mod prompt;
pub(super) mod words;
