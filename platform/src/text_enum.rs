//! Enums stored and sent as fixed text (`"PUBLISHED"`), with their text form declared once.

/// Declares `enum $name` whose variants read and write as the given texts:
/// `as_str` gives the text, `parse` takes it back (None for anything else).
///
/// ```
/// lms_platform::text_enum!(Colour { Red = "RED", Blue = "BLUE" });
/// assert_eq!(Colour::Red.as_str(), "RED");
/// assert_eq!(Colour::parse("BLUE"), Some(Colour::Blue));
/// assert_eq!(Colour::parse("GREEN"), None);
/// ```
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}
