//! Azure DevOps and Microsoft Entra ID over the network.

pub mod tenant;
