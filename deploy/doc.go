// Package deploy holds crawld's deployment files; its test checks them.
package deploy
