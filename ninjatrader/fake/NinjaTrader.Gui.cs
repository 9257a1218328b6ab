// Faithful fake, part two: the window types an AddOn uses (HG creating_your_own_addon_window, developing_add_ons:
// OnWindowCreated, ControlCenter, FindFirst("ControlCenterMenuItemNew"), NTMenuItem, NTWindow) and the small part of
// WPF they stand on. Mono has no PresentationFramework, so the WPF types below are the fake's own, with WPF's names:
// controls hold values, buttons and menu items raise Click when a test clicks them, nothing is drawn.
using System;
using System.Collections.Generic;

namespace System.Windows.Threading
{
    // WPF Dispatcher (the members NinjaScript uses): work runs on another thread, in order
    public class Dispatcher
    {
        readonly object gate = new object();
        System.Threading.Tasks.Task tail = System.Threading.Tasks.Task.FromResult(0);
        public bool HasShutdownStarted { get; internal set; }

        public System.Threading.Tasks.Task InvokeAsync(Action action)
        {
            lock (gate) return tail = tail.ContinueWith(_ => action());
        }

        // WPF: BeginInvoke(Delegate, params object[]) - a bare lambda does not convert, as in WPF
        public System.Threading.Tasks.Task BeginInvoke(Delegate method, params object[] args) { return InvokeAsync(() => method.DynamicInvoke(args)); }

        public void Invoke(Action action) { InvokeAsync(action).Wait(); }
    }
}

namespace System.Windows
{
    public class RoutedEventArgs : EventArgs { }
    public delegate void RoutedEventHandler(object sender, RoutedEventArgs e);

    public class UIElement { }

    public class FrameworkElement : UIElement
    {
        public string Name { get; set; }
        public double Width { get; set; }
        public double Height { get; set; }
        public object ToolTip { get; set; }
    }

    public class Window : FrameworkElement
    {
        public string Title { get; set; }
        public object Content { get; set; }
        public bool IsVisible { get; private set; }
        public event EventHandler Closed;
        public System.Windows.Threading.Dispatcher Dispatcher { get; private set; }
        public Window() { Dispatcher = new System.Windows.Threading.Dispatcher(); }
        public void Show() { IsVisible = true; Windows.Opened.Add(this); }
        public void Activate() { }
        public void Close()
        {
            IsVisible = false;
            var closed = Closed;
            if (closed != null) closed(this, EventArgs.Empty);
        }
    }

    /// <summary>Fake only: the windows shown, for a test to find and operate.</summary>
    public static class Windows
    {
        public static readonly List<Window> Opened = new List<Window>();
    }
}

namespace System.Windows.Controls
{
    public class UIElementCollection : List<UIElement> { }

    public class ItemCollection : List<object> { }

    public class Panel : FrameworkElement
    {
        public UIElementCollection Children { get; private set; }
        public Panel() { Children = new UIElementCollection(); }
    }

    public class StackPanel : Panel { }

    public class ContentControl : FrameworkElement
    {
        public object Content { get; set; }
    }

    public class Label : ContentControl { }

    public class TextBlock : FrameworkElement
    {
        public string Text { get; set; }
    }

    public class TextBox : FrameworkElement
    {
        public string Text { get; set; }
    }

    // WPF PasswordBox: Password is not a dependency property and is never bound or serialised
    public class PasswordBox : FrameworkElement
    {
        public string Password { get; set; }
    }

    public class CheckBox : ContentControl
    {
        public bool? IsChecked { get; set; }
    }

    public class Button : ContentControl
    {
        public event RoutedEventHandler Click;
        /// <summary>Fake only: what a user's click does.</summary>
        public void PerformClick() { var c = Click; if (c != null) c(this, new RoutedEventArgs()); }
    }

    public class MenuItem : FrameworkElement
    {
        public object Header { get; set; }
        public ItemCollection Items { get; private set; }
        public event RoutedEventHandler Click;
        public MenuItem() { Items = new ItemCollection(); }
        /// <summary>Fake only: what a user's click does.</summary>
        public void PerformClick() { var c = Click; if (c != null) c(this, new RoutedEventArgs()); }
    }
}

namespace NinjaTrader.Gui.Tools
{
    // HG creating_your_own_addon_window: NTWindow, NTMenuItem
    public class NTWindow : System.Windows.Window
    {
        public string Caption { get; set; }
    }

    public class NTMenuItem : System.Windows.Controls.MenuItem { }

    // HG creating_your_own_addon_window: "cc.FindFirst("ControlCenterMenuItemNew") as NTMenuItem" (an extension
    // method; menus are found by their automation id)
    public static class WindowExtensions
    {
        public static object FindFirst(this System.Windows.Window window, string automationId)
        {
            var cc = window as NinjaTrader.Gui.ControlCenter;
            if (cc == null) return null;
            NinjaTrader.Gui.Tools.NTMenuItem item;
            return cc.Menus.TryGetValue(automationId, out item) ? item : null;
        }
    }
}

namespace NinjaTrader.Gui
{
    // HG creating_your_own_addon_window: the Control Center and its menus (New, Tools, ...)
    public class ControlCenter : NinjaTrader.Gui.Tools.NTWindow
    {
        public readonly Dictionary<string, NinjaTrader.Gui.Tools.NTMenuItem> Menus = new Dictionary<string, NinjaTrader.Gui.Tools.NTMenuItem>
        {
            { "ControlCenterMenuItemNew", new NinjaTrader.Gui.Tools.NTMenuItem { Header = "New" } },
            { "ControlCenterMenuItemTools", new NinjaTrader.Gui.Tools.NTMenuItem { Header = "Tools" } },
        };
    }
}
