//! Who issues a command.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The roles of the after-sales team and of the systems around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 售后客服
    Agent,
    /// 主管 / 店长
    Supervisor,
    /// 仓库
    Warehouse,
    /// 财务 / 退款人员
    Finance,
    /// 维修
    Technician,
    Auditor,
    /// Another system: shop back office, ERP, courier feed.
    Integration,
    Admin,
    /// The scheduler that issues time-driven commands.
    System,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Agent,
        Role::Supervisor,
        Role::Warehouse,
        Role::Finance,
        Role::Technician,
        Role::Auditor,
        Role::Integration,
        Role::Admin,
        Role::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Warehouse => "warehouse",
            Role::Finance => "finance",
            Role::Technician => "technician",
            Role::Auditor => "auditor",
            Role::Integration => "integration",
            Role::Admin => "admin",
            Role::System => "system",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}"))
    }
}

/// A person or system acting, as recorded in every event's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Actor {
    pub id: String,
    pub role: Role,
}

impl Actor {
    pub fn new(id: impl Into<String>, role: Role) -> Self {
        Self {
            id: id.into(),
            role,
        }
    }

    pub fn system() -> Self {
        Self::new("scheduler", Role::System)
    }
}
