//! xAPI's query parameters, read strictly: each name once, only the names the resource
//! takes (in their exact case), booleans as `true` / `false` (xAPI Communication 3.2: any
//! other parameter is a 400).

use std::collections::HashMap;

use crate::error::ApiError;

pub struct Params(HashMap<String, String>);

impl Params {
    /// The query string's parameters, refusing names outside `allowed` and repeated ones.
    pub fn read(query: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut found = HashMap::new();
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                return Err(ApiError::invalid(
                    name.to_string(),
                    format!(
                        "is not a parameter of this resource (it takes {})",
                        allowed.join(", ")
                    ),
                ));
            }
            // Every xAPI parameter has a format an empty string does not meet; read as absent it
            // would widen a query the client meant to narrow.
            if value.is_empty() {
                return Err(ApiError::invalid(name.to_string(), "must not be empty"));
            }
            if found.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(ApiError::invalid(name.to_string(), "is given twice"));
            }
        }
        Ok(Params(found))
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    /// The names given, for rules about which may go together.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.0.get(name).map(String::as_str) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ApiError::invalid(name, "must be true or false")),
        }
    }

    pub fn count(&self, name: &str) -> Result<u32, ApiError> {
        match self.0.get(name) {
            None => Ok(0),
            Some(text) => text
                .parse::<u32>()
                .map_err(|_| ApiError::invalid(name, "must be a whole number, 0 or more")),
        }
    }
}
