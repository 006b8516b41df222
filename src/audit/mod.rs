//! The label-noise audit: confident learning over out-of-fold probabilities, exactly as
//! cleanlab computes it ([`confident`]), from agf's runs or from any model's probabilities
//! in a CSV file ([`predictions`]); the album view ([`albums`]), since uploaders label whole
//! albums; and the audit scored against the truth where it is known ([`truth`]).

pub mod albums;
pub mod confident;
pub mod file;
pub mod predictions;
pub mod truth;
