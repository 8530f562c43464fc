"""Test lab: network namespaces joined by veth pairs, with known addresses and MACs."""
