// Enigma-Apex AddOn: the settings window, opened from the Control Center's New menu ("Enigma-Apex"). Hub URL,
// executor token (a PasswordBox: never shown, never bound or serialised), accounts, ATM template,
// flatten-after-disconnect, and the connection's state. Save writes the settings file and reconnects.
#region Using declarations
using System;
using System.Globalization;
using System.Windows;
using System.Windows.Controls;
using EnigmaApex.Protocol;
using NinjaTrader.Gui.Tools;
#endregion

namespace EnigmaApex.Platform
{
    public sealed class SettingsWindow : NTWindow
    {
        public readonly TextBox HubUrl = new TextBox { Name = "HubUrl" };
        public readonly PasswordBox Token = new PasswordBox { Name = "Token" };
        public readonly TextBox Accounts = new TextBox { Name = "Accounts", ToolTip = "comma-separated; empty: every account the hub gives the token" };
        public readonly TextBox AtmTemplate = new TextBox { Name = "AtmTemplate", ToolTip = "empty: the hub's own stop and target" };
        public readonly TextBox FlattenAfter = new TextBox { Name = "FlattenAfter", ToolTip = "seconds without the hub before flattening; 0: never" };
        public readonly TextBlock State = new TextBlock { Name = "State" };
        public readonly TextBlock Problem = new TextBlock { Name = "Problem" };
        public readonly Button Save = new Button { Name = "Save", Content = "Save and connect" };
        readonly Func<string> state;

        public SettingsWindow(ClientSettings current, Func<string> connectionState, Func<ClientSettings, string> apply)
        {
            Caption = "Enigma-Apex";
            Title = "Enigma-Apex";
            Width = 460;
            Height = 420;
            state = connectionState;
            HubUrl.Text = current.HubUrl;
            Token.Password = current.Token;
            Accounts.Text = current.Accounts;
            AtmTemplate.Text = current.AtmTemplate;
            FlattenAfter.Text = current.FlattenAfterDisconnectSeconds.ToString(CultureInfo.InvariantCulture);
            var panel = new StackPanel();
            Add(panel, "Hub URL", HubUrl);
            Add(panel, "Executor token (one per client: enigma-apex token create --role executor)", Token);
            Add(panel, "Accounts", Accounts);
            Add(panel, "ATM template", AtmTemplate);
            Add(panel, "Flatten after the hub is away (seconds, 0 = never)", FlattenAfter);
            Add(panel, "Connection", State);
            panel.Children.Add(Problem);
            panel.Children.Add(Save);
            Content = panel;
            Refresh();
            Save.Click += (sender, e) =>
            {
                try
                {
                    double seconds;
                    if (!double.TryParse((FlattenAfter.Text ?? "").Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out seconds))
                    {
                        Problem.Text = "flatten after disconnect: a number of seconds";
                        return;
                    }
                    var next = new ClientSettings
                    {
                        HubUrl = (HubUrl.Text ?? "").Trim(),
                        Token = (Token.Password ?? "").Trim(),
                        Accounts = (Accounts.Text ?? "").Trim(),
                        AtmTemplate = (AtmTemplate.Text ?? "").Trim(),
                        FlattenAfterDisconnectSeconds = seconds,
                    };
                    Problem.Text = next.Problem() ?? apply(next) ?? "";
                    Refresh();
                }
                catch (Exception ex)
                {
                    Problem.Text = ex.GetType().Name + ": " + ex.Message;  // a window callback never throws out
                }
            };
        }

        public void Refresh() { State.Text = state(); }

        static void Add(StackPanel panel, string label, UIElement control)
        {
            panel.Children.Add(new Label { Content = label });
            panel.Children.Add(control);
        }
    }
}
