//! What the agent's desk (and a supervisor) may ask of a live call: one vocabulary for the
//! API (which checks the targets) and telephony (which carries it out).

use crate::MonitorMode;

/// Call control on a call an agent has answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallControl {
    /// The caller hears music; the agent's phone stays connected and hears nothing.
    Hold,
    Resume,
    /// Ends the call for everyone on it.
    HangUp,
    /// Blind: the agent is let go (wrap-up); routing offers the call to this agent first.
    TransferToAgent(i64),
    /// Blind: the agent is let go; the call waits in this queue like any other.
    TransferToQueue(i64),
    /// Blind: the agent is let go; the number (E.164, a company specialist) is dialled with
    /// ringback; if it fails, the call goes back to its queue, that agent first.
    TransferToNumber(String),
    /// The caller waits with music while the agent talks to this number (E.164, a
    /// specialist)...
    ConsultNumber(String),
    /// ...or to this agent's phone.
    ConsultAgent(i64),
    /// The caller joins the consultation: the three talk.
    Conference,
    /// The agent leaves a consultation or conference; the caller and the third talk on
    /// (an attended transfer).
    CompleteTransfer,
    /// The third is let go; the caller and the agent talk again.
    CancelConsult,
    /// A supervisor (this agent record's phone) is rung and, once they answer, is on the
    /// call in this mode; asked again by the same supervisor, only the mode changes.
    Monitor {
        supervisor: i64,
        mode: MonitorMode,
    },
    /// The supervisor's phone is let go; the caller and the agent talk on as before.
    StopMonitor {
        supervisor: i64,
    },
}
