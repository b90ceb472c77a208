package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-rc/tandem/relay/store"
)

func newAccountCmd(open opener) *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Accounts"}
	var name, owner, password string
	create := &cobra.Command{Use: "create", Short: "Create another account with its owner", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if password == "" {
				password = os.Getenv("TANDEM_OWNER_PASSWORD")
			}
			a, err := open(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			acct, u, err := a.CreateAccount(cmd.Context(), name, owner, password)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created account %q (%s) owned by %s (%s)\n", acct.Name, acct.ID, u.Email, u.ID)
			return nil
		}}
	create.Flags().StringVar(&name, "name", "", "account name (required)")
	create.Flags().StringVar(&owner, "owner", "", "owner's email (required); an existing user keeps their password")
	create.Flags().StringVar(&password, "password", "", "a new owner's password (or TANDEM_OWNER_PASSWORD)")
	create.MarkFlagRequired("name")
	create.MarkFlagRequired("owner")
	list := &cobra.Command{Use: "list", Short: "List accounts", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := open(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			as, err := a.Accounts(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tMFA\tAUDIT LOG")
			for _, x := range as {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%t\n", x.ID, x.Name, x.MFA, x.AuditEnabled)
			}
			return tw.Flush()
		}}
	cmd.AddCommand(create, list)
	return cmd
}

func newUserCmd(open opener) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Users of an account"}
	var account, email, password, typ string
	add := &cobra.Command{Use: "add", Short: "Add a user to an account (administrators get full access)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if password == "" {
				password = os.Getenv("TANDEM_USER_PASSWORD")
			}
			a, err := open(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			u, err := a.AddUser(cmd.Context(), account, email, password, store.MemberType(typ))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s (%s) as %s\n", u.Email, u.ID, typ)
			return nil
		}}
	add.Flags().StringVar(&account, "account", "", "account id or name (default: the only account)")
	add.Flags().StringVar(&email, "email", "", "the user's email (required)")
	add.Flags().StringVar(&password, "password", "", "a new user's password (or TANDEM_USER_PASSWORD)")
	add.Flags().StringVar(&typ, "type", "user", "user, group_manager or admin")
	add.MarkFlagRequired("email")
	unlock := &cobra.Command{Use: "unlock EMAIL", Short: "Lift a user's login lock and delays (the owner's too)",
		Long: `Lift the lock failed logins put on a user, and the delays each address
earned by guessing, also for the owner (whom no administrator ranks above).
A running relay applies it at the user's next login attempt.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := open(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			u, err := a.UnlockUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "unlocked %s (%s)\n", u.Email, u.ID)
			return nil
		}}
	cmd.AddCommand(add, unlock)
	return cmd
}

func newCheckCmd(open opener) *cobra.Command {
	var account, user, device, at string
	cmd := &cobra.Command{Use: "check", Short: "Check permissions: what a user may do on a device, and why", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			when := time.Now()
			if at != "" {
				t, err := parseDate("at", at)
				if err != nil {
					return err
				}
				when = t
			}
			a, err := open(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			d, err := a.Check(cmd.Context(), account, user, device, when)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if d.Allowed {
				fmt.Fprintf(out, "ALLOWED at %s UTC: %s\n", when.UTC().Format("2006-01-02 15:04"), strings.Join(d.Permissions.Strings(), ", "))
			} else {
				fmt.Fprintf(out, "DENIED at %s UTC\n", when.UTC().Format("2006-01-02 15:04"))
			}
			if d.Confirm.Required() {
				fmt.Fprintf(out, "confirmation: local %t, email groups %v\n", d.Confirm.Local, d.Confirm.EmailGroupIDs)
			}
			for _, c := range d.Contributing {
				fmt.Fprintf(out, "  + %s (role %s)\n", c.Name, c.RoleName)
			}
			for _, r := range d.Reasons {
				fmt.Fprintf(out, "  - %s\n", r)
			}
			return nil
		}}
	f := cmd.Flags()
	f.StringVar(&account, "account", "", "account id or name (default: the only account)")
	f.StringVar(&user, "user", "", "user email or id (required)")
	f.StringVar(&device, "device", "", "device id or hostname (required)")
	f.StringVar(&at, "at", "", "when (UTC, YYYY-MM-DD[THH:MM] or RFC 3339; default now)")
	cmd.MarkFlagRequired("user")
	cmd.MarkFlagRequired("device")
	return cmd
}
