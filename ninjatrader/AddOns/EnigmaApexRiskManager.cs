// Enigma-Apex AddOn for NinjaTrader 8: connects NinjaTrader's accounts to the Enigma-Apex hub (ws://host:8765).
// It streams every selected account's connection state, balance, realised and open P&L, positions, order states,
// fills and the prices of the instruments it holds or works orders in; it executes the hub's order.place (with
// its own bracket or an ATM template; exits and flattens only ever reduce), order.cancel and flatten through the
// Account API. Orders are named by their compact reference (docs/protocol.md): duplicates are recognised after a
// restart. While the hub is away it places nothing new and, when set, flattens the accounts it owns after a delay.
// Configure it from Control Center > New > Enigma-Apex; settings live in Documents\NinjaTrader 8\EnigmaApex\.
// Install: docs/ninjatrader.md. Protocol: docs/protocol.md.
#region Using declarations
using System;
using System.IO;
using System.Windows;
using EnigmaApex.Platform;
using EnigmaApex.Protocol;
using NinjaTrader.Gui;
using NinjaTrader.Gui.Tools;
#endregion

namespace NinjaTrader.NinjaScript.AddOns
{
    public class EnigmaApexRiskManager : AddOnBase
    {
        readonly object gate = new object();
        HubConnection connection;
        AccountBroker broker;
        ClientSettings settings = new ClientSettings();
        NTMenuItem menuItem, newMenu;
        SettingsWindow window;

        public static string SettingsPath
        {
            get { return Path.Combine(Path.Combine(NinjaTrader.Core.Globals.UserDataDir, "EnigmaApex"), "settings.json"); }
        }

        /// <summary>The hub connection (for the window and diagnostics).</summary>
        public HubConnection Connection { get { return connection; } }

        /// <summary>What the window shows: the connection's last state.</summary>
        public string ConnectionState
        {
            get
            {
                var c = connection;
                if (c == null) return settings.Problem() ?? "not connected";
                return (c.Connected ? "connected to " : c.LastStatus + " - ") + settings.HubUrl;
            }
        }

        protected override void OnStateChange()
        {
            try
            {
                if (State == State.SetDefaults)
                {
                    Name = "EnigmaApexRiskManager";
                    Description = "Connects NinjaTrader accounts to the Enigma-Apex risk and compliance hub.";
                }
                else if (State == State.Active)
                {
                    settings = ClientSettings.Load(SettingsPath);
                    if (string.IsNullOrEmpty(settings.Token))
                        settings.Token = Environment.GetEnvironmentVariable("ENIGMA_APEX_TOKEN") ?? "";
                    Restart();
                }
                else if (State == State.Terminated)
                    Stop();  // never blocks: the connection stops in the background
            }
            catch (Exception ex)
            {
                Print("Enigma-Apex: " + ex.GetType().Name + ": " + ex.Message);
            }
        }

        void Stop()
        {
            lock (gate)
            {
                if (connection != null) connection.Dispose();
                if (broker != null) broker.Dispose();
                connection = null;
                broker = null;
            }
        }

        void Restart()
        {
            Stop();
            string problem = settings.Problem();
            if (problem != null)
            {
                Print("Enigma-Apex: not connecting: " + problem + " (Control Center > New > Enigma-Apex)");
                return;
            }
            lock (gate)
            {
                broker = new AccountBroker(settings, text => Print("Enigma-Apex: " + text));
                var session = new ExecutorSession(broker);
                broker.Session = session;
                connection = new HubConnection(settings.HubUrl, settings.Token, "NinjaTrader AddOn", session)
                {
                    FlattenAfterDisconnectSeconds = settings.FlattenAfterDisconnectSeconds,
                    Status = text => Print("Enigma-Apex: " + text),
                };
                var b = broker;
                // only the accounts the hub gave this client: never every account in NinjaTrader
                connection.FlattenAll = () => { foreach (var name in session.OwnedAccounts) b.Flatten(name, true); };
                broker.Connection = connection;
                broker.Start();
                connection.Start();
                Print("Enigma-Apex: connecting to " + settings.HubUrl + " with token " + ClientSettings.Masked(settings.Token));
            }
        }

        /// <summary>The window's Save: store the settings (token encrypted for this Windows user) and reconnect.</summary>
        public string Apply(ClientSettings next)
        {
            string problem = next.Problem();
            if (problem != null) return problem;
            next.Save(SettingsPath);
            settings = next;
            Restart();
            return null;
        }

        // HG creating_your_own_addon_window: an item in the Control Center's New menu
        protected override void OnWindowCreated(Window w)
        {
            try
            {
                var cc = w as ControlCenter;
                if (cc == null || menuItem != null) return;
                newMenu = cc.FindFirst("ControlCenterMenuItemNew") as NTMenuItem;
                if (newMenu == null) return;
                menuItem = new NTMenuItem { Header = "Enigma-Apex" };
                menuItem.Click += OnMenuItemClick;
                newMenu.Items.Add(menuItem);
            }
            catch (Exception ex)
            {
                Print("Enigma-Apex: menu: " + ex.Message);
            }
        }

        protected override void OnWindowDestroyed(Window w)
        {
            try
            {
                if (menuItem == null || !(w is ControlCenter)) return;
                if (newMenu != null && newMenu.Items.Contains(menuItem)) newMenu.Items.Remove(menuItem);
                menuItem.Click -= OnMenuItemClick;
                menuItem = null;
            }
            catch (Exception ex)
            {
                Print("Enigma-Apex: menu: " + ex.Message);
            }
        }

        void OnMenuItemClick(object sender, RoutedEventArgs e)
        {
            NinjaTrader.Core.Globals.RandomDispatcher.BeginInvoke(new Action(() =>
            {
                try
                {
                    if (window != null && window.IsVisible) { window.Activate(); return; }
                    window = new SettingsWindow(settings.Copy(), () => ConnectionState, Apply);
                    window.Show();
                }
                catch (Exception ex)
                {
                    Print("Enigma-Apex: window: " + ex.Message);
                }
            }));
        }
    }
}
