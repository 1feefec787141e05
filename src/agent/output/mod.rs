//! What the person sees and answers: the printer (reports, plans, settings as text), the
//! prompt the engine asks through, and the small word helpers they share.

pub mod printer;
pub mod prompt;
pub mod words;
