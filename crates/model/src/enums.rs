//! Closed vocabularies. Each has one stable lower-case wire name used in JSON and in the database.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::InvalidInput;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(crate::InvalidInput::new(
                        stringify!($name),
                        format!("unknown value {:?}; expected one of: {}", s, [$($wire),+].join(", ")),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// What a user may do. Admins manage the tenant; supervisors watch and steer; agents serve.
    Role { Admin => "admin", Supervisor => "supervisor", Agent => "agent" }
}

wire_enum! {
    /// How a supervisor is on an agent's call: hears both (nobody hears them), coaches the
    /// agent (only the agent hears them), or joins (all three talk).
    MonitorMode { Listen => "listen", Whisper => "whisper", Barge => "barge" }
}

impl Role {
    /// Roles are ordered by power: an admin may do all a supervisor may, and so on.
    pub fn at_least(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }

    fn rank(self) -> u8 {
        match self {
            Role::Agent => 0,
            Role::Supervisor => 1,
            Role::Admin => 2,
        }
    }
}

wire_enum! {
    /// The medium of one interaction.
    Channel { Voice => "voice", Email => "email", Chat => "chat", Form => "form" }
}

wire_enum! {
    /// Who started the interaction.
    Direction { Inbound => "inbound", Outbound => "outbound" }
}

wire_enum! {
    /// Life cycle of an interaction. `closed`, `abandoned` and `failed` are final.
    InteractionState {
        New => "new",
        InFlow => "in_flow",
        Queued => "queued",
        Offered => "offered",
        Active => "active",
        Held => "held",
        WrapUp => "wrap_up",
        Closed => "closed",
        Abandoned => "abandoned",
        Failed => "failed",
    }
}

impl InteractionState {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Closed | Self::Abandoned | Self::Failed)
    }
}

wire_enum! {
    /// How a customer is recognised.
    IdentifierKind { Phone => "phone", Email => "email" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in InteractionState::ALL {
            assert_eq!(s.as_str().parse::<InteractionState>().unwrap(), *s);
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert!("Voice".parse::<Channel>().is_err());
        assert!(Role::Admin.at_least(Role::Supervisor));
        assert!(!Role::Agent.at_least(Role::Supervisor));
    }
}
