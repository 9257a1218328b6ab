// Scenario host under Mono: the real AddOn and Strategy (ninjatrader/AddOns, Strategies) inside the faithful fake
// of NinjaTrader (ninjatrader/fake), connected to the real hub. The Python test plays NinjaTrader's user and market
// over stdin/stdout, one JSON object per line; every command is answered {"op":"done","id":N,...}.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using EnigmaApex.Protocol;
using NinjaTrader.Cbi;
using NinjaTrader.NinjaScript;
using NinjaTrader.NinjaScript.AddOns;
using NinjaTrader.NinjaScript.Strategies;

public static class ScenarioHost
{
    static readonly object outLock = new object();
    static readonly Dictionary<string, Instrument> instruments = new Dictionary<string, Instrument>();
    static readonly Dictionary<string, Account> accounts = new Dictionary<string, Account>();
    static readonly List<EnigmaApexRiskManager> addons = new List<EnigmaApexRiskManager>();
    static readonly List<EnigmaApexAutoTrader> strategies = new List<EnigmaApexAutoTrader>();

    static void Out(Dictionary<string, object> message)
    {
        lock (outLock)
        {
            Console.Out.WriteLine(Json.Write(message));
            Console.Out.Flush();
        }
    }

    static double Num(Dictionary<string, object> m, string key) { return (double)(Json.Dec(m, key) ?? 0m); }

    public static int Main(string[] args)
    {
        NinjaTrader.Core.Globals.UserDataDir = args[0];
        Sim.Log = text => Console.Error.WriteLine("NT: " + text);
        string line;
        while ((line = Console.In.ReadLine()) != null)
        {
            var m = Json.ParseObject(line);
            var reply = new Dictionary<string, object> { { "op", "done" }, { "id", Json.Dec(m, "id") ?? 0m } };
            try
            {
                if (!Handle(m, reply)) break;
            }
            catch (Exception ex)
            {
                reply["error"] = ex.GetType().Name + ": " + ex.Message;
            }
            Out(reply);
        }
        foreach (var a in addons) a.SetState(State.Terminated);
        foreach (var s in strategies) s.SetState(State.Terminated);
        return 0;
    }

    static ClientSettings Settings(Dictionary<string, object> m)
    {
        return new ClientSettings
        {
            HubUrl = Json.Str(m, "hub_url") ?? "",
            Token = Json.Str(m, "token") ?? "",
            Accounts = Json.Str(m, "accounts") ?? "",
            AtmTemplate = Json.Str(m, "atm_template") ?? "",
            FlattenAfterDisconnectSeconds = Num(m, "flatten_after_s"),
        };
    }

    static bool Handle(Dictionary<string, object> m, Dictionary<string, object> reply)
    {
        switch (Json.Str(m, "op"))
        {
            case "quit": return false;
            case "instrument":
                instruments[Json.Str(m, "name")] = Instrument.Define(Json.Str(m, "name"), Num(m, "tick"), Num(m, "point"));
                break;
            case "account":
                accounts[Json.Str(m, "name")] = Sim.AddAccount(Json.Str(m, "name"), Num(m, "cash"),
                    (ConnectionStatus)Enum.Parse(typeof(ConnectionStatus), Json.Str(m, "status") ?? "Connected"));
                break;
            case "status":
                Sim.SetStatus(accounts[Json.Str(m, "account")], (ConnectionStatus)Enum.Parse(typeof(ConnectionStatus), Json.Str(m, "status")),
                              Json.Str(m, "message"));
                break;
            case "remove": Sim.RemoveAccount(accounts[Json.Str(m, "account")]); break;
            case "price": Sim.SetPrice(instruments[Json.Str(m, "instrument")], Num(m, "last")); break;
            case "fail_get": Sim.FailGet(accounts[Json.Str(m, "account")], Json.Str(m, "error")); break;
            case "atm_template": AtmStrategy.DefineTemplate(Json.Str(m, "name"), (int)Num(m, "stop"), (int)Num(m, "target")); break;
            case "manual":  // a trade the user places by hand in NinjaTrader
            {
                var account = accounts[Json.Str(m, "account")];
                int qty = (int)Num(m, "quantity");
                var order = account.CreateOrder(instruments[Json.Str(m, "instrument")], qty > 0 ? OrderAction.Buy : OrderAction.Sell,
                                                OrderType.Market, OrderEntry.Manual, TimeInForce.Day, Math.Abs(qty), 0, 0, "", "",
                                                NinjaTrader.Core.Globals.MaxDate, null);
                account.Submit(new[] { order });
                break;
            }
            case "settings":  // a settings file as the window saves it
                Settings(m).Save(EnigmaApexRiskManager.SettingsPath);
                break;
            case "addon_start":
            {
                var addon = new EnigmaApexRiskManager();
                addon.SetState(State.SetDefaults);
                addon.SetState(State.Configure);
                addon.SetState(State.Active);
                addons.Add(addon);
                break;
            }
            case "addon_stop":
            {
                var started = DateTime.UtcNow;
                foreach (var a in addons) a.SetState(State.Terminated);
                reply["ms"] = (decimal)(DateTime.UtcNow - started).TotalMilliseconds;
                addons.Clear();
                break;
            }
            case "window":  // Control Center > New > Enigma-Apex, fill the fields, Save
            {
                var addon = addons[0];
                var cc = new NinjaTrader.Gui.ControlCenter();
                addon.WindowCreated(cc);
                var item = cc.Menus["ControlCenterMenuItemNew"].Items.OfType<NinjaTrader.Gui.Tools.NTMenuItem>()
                             .First(i => (string)i.Header == "Enigma-Apex");
                int before = System.Windows.Windows.Opened.Count;
                item.PerformClick();
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while (System.Windows.Windows.Opened.Count == before && DateTime.UtcNow < deadline) Thread.Sleep(10);
                var window = (EnigmaApex.Platform.SettingsWindow)System.Windows.Windows.Opened.Last();
                var s = Settings(m);
                window.HubUrl.Text = s.HubUrl;
                window.Token.Password = s.Token;
                window.Accounts.Text = s.Accounts;
                window.AtmTemplate.Text = s.AtmTemplate;
                window.FlattenAfter.Text = Json.Str(m, "flatten_after_text") ?? s.FlattenAfterDisconnectSeconds.ToString(CultureInfo.InvariantCulture);
                window.Save.PerformClick();
                reply["problem"] = window.Problem.Text ?? "";
                reply["state"] = window.State.Text ?? "";
                addon.WindowDestroyed(cc);
                reply["menu_items_left"] = cc.Menus["ControlCenterMenuItemNew"].Items.Count;
                break;
            }
            case "strategy_start":
            {
                var strategy = new EnigmaApexAutoTrader();
                strategy.SetState(State.SetDefaults);
                strategy.Account = accounts[Json.Str(m, "account")];
                strategy.Instrument = instruments[Json.Str(m, "instrument")];
                strategy.HubUrl = Json.Str(m, "hub_url");
                strategy.Token = Json.Str(m, "token") ?? "";
                if (Json.Str(m, "tif") == "gtc") strategy.TimeInForce = TimeInForce.Gtc;
                strategy.SetState(State.Configure);
                strategy.SetState(State.DataLoaded);
                strategy.SetState(State.Realtime);
                reply["token_property"] = strategy.Token;
                strategies.Add(strategy);
                break;
            }
            case "bar": foreach (var s in strategies) s.CloseBar(); break;
            case "session_close": foreach (var s in strategies) s.SessionCloseExit(Num(m, "price")); break;
            case "drop":
                foreach (var a in addons) if (a.Connection != null) a.Connection.Drop();
                foreach (var s in strategies) if (s.Connection != null) s.Connection.Drop();
                break;
            case "ref": reply["ref"] = OrderRefs.For(Json.Str(m, "key")); break;
            case "state": Snapshot(reply); break;
            default: throw new ArgumentException("unknown op " + Json.Str(m, "op"));
        }
        return true;
    }

    static void Snapshot(Dictionary<string, object> reply)
    {
        Sim.Drain();
        foreach (var s in strategies) s.WaitIdle();
        var per = new Dictionary<string, object>();
        foreach (var pair in accounts)
        {
            var account = pair.Value;
            var held = new Dictionary<string, object>();
            foreach (var i in instruments.Values) { int q = Sim.Held(account, i); if (q != 0) held[i.FullName] = q; }
            var working = new List<object>();
            foreach (var o in Sim.Working(account))
                working.Add(new Dictionary<string, object>
                {
                    { "name", o.Name }, { "action", o.OrderAction.ToString() }, { "type", o.OrderType.ToString() }, { "quantity", o.Quantity },
                    { "filled", o.Filled }, { "stop", (decimal)o.StopPrice }, { "limit", (decimal)o.LimitPrice }, { "oco", o.Oco },
                    { "tif", o.TimeInForce.ToString() },
                });
            var names = new List<object>();
            lock (account.Orders) foreach (var o in account.Orders) names.Add(o.Name);
            per[pair.Key] = new Dictionary<string, object>
            {
                { "positions", held }, { "working", working }, { "names", names }, { "handlers", Sim.HandlerCount(account) },
            };
        }
        reply["accounts"] = per;
        lock (Sim.Violations) reply["violations"] = Sim.Violations.Cast<object>().ToList();
        lock (NinjaScriptBase.Output) reply["output"] = NinjaScriptBase.Output.Cast<object>().ToList();
        lock (StrategyBase.Errors) reply["strategy_errors"] = StrategyBase.Errors.Cast<object>().ToList();
        var connections = new List<object>();
        foreach (var a in addons)
            if (a.Connection != null)
                connections.Add(new Dictionary<string, object> { { "who", "addon" }, { "connected", a.Connection.Connected }, { "connections", a.Connection.Connections }, { "status", a.Connection.LastStatus } });
        foreach (var s in strategies)
            if (s.Connection != null)
                connections.Add(new Dictionary<string, object> { { "who", "strategy" }, { "connected", s.Connection.Connected }, { "connections", s.Connection.Connections }, { "status", s.Connection.LastStatus } });
        reply["connections"] = connections;
        reply["settings_file"] = File.Exists(EnigmaApexRiskManager.SettingsPath) ? File.ReadAllText(EnigmaApexRiskManager.SettingsPath) : "";
    }
}
