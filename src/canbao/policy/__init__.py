"""Policy files: schema and loading."""

from canbao.policy.loader import check_policy_files, list_policies, load_policy, policy_dir, use_policy_dir
from canbao.policy.schema import Policy

__all__ = ["Policy", "check_policy_files", "list_policies", "load_policy", "policy_dir", "use_policy_dir"]
